"""Token-weighted next-token cross-entropy, the one loss of training, held-out NLL and block interventions.

Logits are cast to fp32 before the softmax so bf16 runs measure the same loss as fp32 ones (DESIGN.md §6, Metrics).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def _flat(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1)


def token_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = IGNORE_INDEX
) -> tuple[torch.Tensor, torch.Tensor]:
    """`(sum, count)`: fp32 cross-entropy summed over the targets not equal to `ignore_index`, and their number."""
    flat_logits, flat_targets = _flat(logits, targets)
    total = F.cross_entropy(flat_logits, flat_targets, ignore_index=ignore_index, reduction="sum")
    return total, (flat_targets != ignore_index).sum()


def mean_token_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = IGNORE_INDEX
) -> torch.Tensor:
    """`sum / count` of `token_cross_entropy`, as one fused mean reduction (the training loss; NaN if no targets)."""
    flat_logits, flat_targets = _flat(logits, targets)
    return F.cross_entropy(flat_logits, flat_targets, ignore_index=ignore_index)
