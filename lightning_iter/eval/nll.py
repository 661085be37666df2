"""Held-out negative log-likelihood: token-weighted mean cross-entropy and perplexity of a model on batches.

The loss of each batch is summed in fp32 and accumulated in a torchmetrics `MeanMetric` weighted by
its token count, so no full softmax of the whole split is ever kept (DESIGN.md §6, Metrics).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn
from torchmetrics import MeanMetric

from ..model.loss import IGNORE_INDEX, token_cross_entropy


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
            total, count = token_cross_entropy(model(inputs), targets, IGNORE_INDEX)
            n = int(count)
            if n == 0:
                continue
            mean.update(total / n, weight=n)
            tokens += n
    finally:
        model.train(was_training)
    if tokens == 0:
        raise ValueError("heldout_nll got no target tokens: the batches are empty")
    loss = float(mean.compute())
    return {"loss": loss, "ppl": math.exp(loss), "tokens": tokens}
