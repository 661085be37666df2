"""Held-out negative log-likelihood: token-weighted mean cross-entropy and perplexity of a model on batches.

The loss of each batch is summed in fp32 and accumulated in a torchmetrics `MeanMetric` weighted by
its token count, so no full softmax of the whole split is ever kept (DESIGN.md §6, Metrics).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric

IGNORE_INDEX = -100


@torch.no_grad()
def heldout_nll(
    model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], device: str | torch.device = "cpu"
) -> dict[str, float]:
    """`{"loss", "ppl", "tokens"}` of `model` over `(inputs, targets)` batches; targets equal to -100 are skipped."""
    was_training = model.training
    model.eval()
    mean = MeanMetric().to(device)
    tokens = 0
    try:
        for inputs, targets in batches:
            inputs, targets = inputs.to(device), targets.to(device)
            logits = model(inputs)
            n = int((targets != IGNORE_INDEX).sum())
            if n == 0:
                continue
            total = F.cross_entropy(
                logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
                ignore_index=IGNORE_INDEX, reduction="sum",
            )
            mean.update(total / n, weight=n)
            tokens += n
    finally:
        model.train(was_training)
    if tokens == 0:
        raise ValueError("heldout_nll got no target tokens: the batches are empty")
    loss = float(mean.compute())
    return {"loss": loss, "ppl": math.exp(loss), "tokens": tokens}
