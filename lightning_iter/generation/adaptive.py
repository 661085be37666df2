"""Adaptive depth at inference: stop repeating a looped block for a token once it has converged.

A zero-shot exit in the style of Huginn (Geiping et al. 2025, "Scaling up test-time compute with
latent reasoning", §6): after each pass of the block, compare the new hidden state with the one
before the pass (relative L2 change, `criterion="delta"`) or the next-token distributions they
predict (KL divergence, `criterion="kl"`); below `threshold` the remaining passes are skipped.
With a per-pass KV cache a skipped pass's cache entry is filled with the last executed pass's
keys/values, so later tokens that do run that pass attend to an approximation of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import check_choice, check_float, check_int
from ..model.cache import KVCache
from ..model.plan import LoopSpan
from ..model.transformer import Transformer

CRITERIA = ("delta", "kl")


@dataclass(frozen=True)
class AdaptiveDepth:
    """Options of the zero-shot exit: `threshold` on `criterion` ("delta" or "kl"), at least `min_passes`."""

    threshold: float
    criterion: str = "delta"
    min_passes: int = 1

    def __post_init__(self) -> None:
        check_choice("adaptive criterion", self.criterion, CRITERIA)
        check_float("--adaptive_threshold", self.threshold, above=0)
        check_int("adaptive min_passes", self.min_passes, 1)


def _converged(model: Transformer, before: torch.Tensor, after: torch.Tensor, options: AdaptiveDepth) -> bool:
    """Whether every row/position changed by less than the threshold (the whole batch exits together)."""
    if options.criterion == "delta":
        change = (after - before).float().norm(dim=-1) / after.float().norm(dim=-1).clamp_min(1e-12)
    else:
        log_p = F.log_softmax(model.unembed(before).float(), dim=-1)
        log_q = F.log_softmax(model.unembed(after).float(), dim=-1)
        change = (log_p.exp() * (log_p - log_q)).sum(dim=-1)
    return bool(change.max() < options.threshold)


def adaptive_forward(
    model: Transformer, tokens: torch.Tensor, cache: KVCache, loop: LoopSpan, options: AdaptiveDepth
) -> tuple[torch.Tensor, int]:
    """Like `model.forward_cached`, but the passes of `loop` stop early once converged; returns (logits, passes)."""
    loop.check(model.plan)
    hidden = model.embed(tokens)
    first = cache.position
    cos, sin = model.rope_tables(tokens.shape[1], tokens.device, hidden.dtype, start=first)
    used = loop.passes
    before = hidden  # the hidden state entering the current pass of the loop
    for step in model.walk(hidden, cos, sin, cache=cache, stop=loop.end):
        hidden = step.out
        done = step.depth + 1 - loop.start  # depths of the loop run so far
        if done == 0:  # the last depth before the loop: its output enters the first pass
            before = hidden
        if done <= 0 or done % loop.size:
            continue
        passes = done // loop.size
        if options.min_passes <= passes < loop.passes and _converged(model, before, hidden, options):
            used = passes
            break
        before = hidden
    if cache.mode == "per_pass":
        last = loop.start + (used - 1) * loop.size
        for p in range(used, loop.passes):
            for j in range(loop.size):
                skipped = cache.slot(loop.start + p * loop.size + j)
                skipped.copy_from(cache.slot(last + j), first, first + tokens.shape[1])
    for step in model.walk(hidden, cos, sin, cache=cache, start=loop.end):
        hidden = step.out
    cache.advance(tokens.shape[1])
    return model.unembed(hidden), used
