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

from ..errors import ConfigError, PlanError
from ..model.cache import KVCache
from ..model.plan import Plan
from ..model.transformer import Transformer

CRITERIA = ("delta", "kl")


@dataclass(frozen=True)
class LoopSpan:
    """Plan positions start .. start + size·passes - 1 run the same `size` layers `passes` times in a row."""

    start: int
    size: int
    passes: int

    @property
    def end(self) -> int:
        return self.start + self.size * self.passes


def find_loop(plan: Plan) -> LoopSpan | None:
    """The repeated block of `plan` that covers the most positions (ties: the shorter block), or None."""
    best: LoopSpan | None = None
    n = len(plan)
    for size in range(1, n // 2 + 1):
        for start in range(0, n - 2 * size + 1):
            block = plan[start:start + size]
            passes = 1
            while plan[start + passes * size:start + (passes + 1) * size] == block:
                passes += 1
            if passes >= 2 and (best is None or size * passes > best.size * best.passes):
                best = LoopSpan(start, size, passes)
    return best


@dataclass(frozen=True)
class AdaptiveDepth:
    """Options of the zero-shot exit: `threshold` on `criterion` ("delta" or "kl"), at least `min_passes`."""

    threshold: float
    criterion: str = "delta"
    min_passes: int = 1

    def __post_init__(self) -> None:
        if self.criterion not in CRITERIA:
            raise ConfigError(f"adaptive criterion={self.criterion!r} is not allowed: choose one of {', '.join(CRITERIA)}")
        if not self.threshold > 0:
            raise ConfigError(f"--adaptive_threshold={self.threshold} is not allowed: it must be > 0")
        if self.min_passes < 1:
            raise ConfigError(f"adaptive min_passes={self.min_passes} is not allowed: it must be >= 1")


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
    cache.check_plan(model.plan)
    plan = model.plan
    if loop.end > len(plan) or plan[loop.start:loop.start + loop.size] * loop.passes != plan[loop.start:loop.end]:
        raise PlanError(f"{loop} is not a repeated block of plan {plan}")
    hidden = model.embed(tokens)
    first = cache.position
    positions = torch.arange(first, first + tokens.shape[1], device=tokens.device)
    cos, sin = model.rotary(positions, hidden.dtype)

    def run(depth: int, h: torch.Tensor) -> torch.Tensor:
        return model.layers[plan[depth]](h, cos, sin, kv_cache=cache.slot(depth))

    for depth in range(loop.start):
        hidden = run(depth, hidden)
    used = loop.passes
    for p in range(loop.passes):
        before = hidden
        for j in range(loop.size):
            hidden = run(loop.start + p * loop.size + j, hidden)
        if p + 1 >= options.min_passes and p + 1 < loop.passes and _converged(model, before, hidden, options):
            used = p + 1
            break
    if cache.mode == "per_pass":
        last = loop.start + (used - 1) * loop.size
        for p in range(used, loop.passes):
            for j in range(loop.size):
                cache.slot(loop.start + p * loop.size + j).copy_from(cache.slot(last + j), first, first + tokens.shape[1])
    for depth in range(loop.end, len(plan)):
        hidden = run(depth, hidden)
    cache.advance(tokens.shape[1])
    return model.unembed(hidden), used
