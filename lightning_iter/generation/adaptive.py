"""Adaptive depth at inference: stop repeating a looped block for a token once it has converged.

A zero-shot exit in the style of Huginn (Geiping et al. 2025, "Scaling up test-time compute with
latent reasoning", §6): after each pass of the block, compare the new hidden state with the one
before the pass (relative L2 change, `criterion="delta"`) or the next-token distributions they
predict (KL divergence, `criterion="kl"`); below `threshold` the remaining passes are skipped.

The decision is per sequence, as in Huginn's batched `generate_with_adaptive_compute`: a sequence's
change is the mean over its (non-padding) positions of the relative change, or the KL at its last
position; a sequence that exits keeps its hidden state while the others run on. A skipped pass's
cache entry holds the sequence's last executed pass's keys/values (per-pass cache; with the shared
cache, the slot keeps them), so later tokens that do run that pass attend to an approximation of it,
and a sequence decodes the same alone or in a batch. The prompt exits by the same rule
(`prefill="exit"`, Huginn's default) or runs every pass (`prefill="full"`, Huginn's
`do_not_exit_in_prefill`).
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
PREFILL_CHOICES = ("exit", "full")


@dataclass(frozen=True)
class AdaptiveDepth:
    """Options of the zero-shot exit: `threshold` on `criterion` ("delta" or "kl"), at least `min_passes`;
    `prefill`: whether the prompt exits too ("exit") or runs every pass ("full")."""

    threshold: float
    criterion: str = "delta"
    min_passes: int = 1
    prefill: str = "exit"

    def __post_init__(self) -> None:
        check_choice("adaptive criterion", self.criterion, CRITERIA)
        check_float("--adaptive_threshold", self.threshold, above=0)
        check_int("adaptive min_passes", self.min_passes, 1)
        check_choice("--adaptive_prefill", self.prefill, PREFILL_CHOICES)


def sequence_change(
    model: Transformer, before: torch.Tensor, after: torch.Tensor, criterion: str, real: torch.Tensor | None = None
) -> torch.Tensor:
    """Per sequence [batch], how much a pass changed the hidden state [batch, T, d]: the mean over real positions
    (`real` [batch, T], default all) of |after - before| / |after| ("delta"), or the next-token KL divergence at
    the last position ("kl"), as Huginn's exit values (Geiping et al. 2025, §6)."""
    if criterion == "kl":
        log_p = F.log_softmax(model.unembed(before[:, -1]).float(), dim=-1)
        log_q = F.log_softmax(model.unembed(after[:, -1]).float(), dim=-1)
        return (log_p.exp() * (log_p - log_q)).sum(dim=-1)
    change = (after - before).float().norm(dim=-1) / after.float().norm(dim=-1).clamp_min(1e-12)
    if real is None:
        return change.mean(dim=-1)
    weight = real.to(change.dtype)
    return (change * weight).sum(dim=-1) / weight.sum(dim=-1).clamp_min(1)


def adaptive_forward(
    model: Transformer, tokens: torch.Tensor, cache: KVCache, loop: LoopSpan, options: AdaptiveDepth
) -> tuple[torch.Tensor, torch.Tensor]:
    """Like `model.forward_cached`, but each sequence stops the passes of `loop` once converged.

    Returns (logits, passes [batch]): how many passes of the block each sequence ran.
    """
    loop.check(model.plan)
    batch, length = tokens.shape
    hidden = model.embed(tokens)
    first = cache.position
    cos, sin = model.rope_tables(length, tokens.device, hidden.dtype, start=first)
    real = None
    if cache.pad is not None:
        real = torch.arange(first, first + length, device=tokens.device)[None] >= cache.pad.to(tokens.device)[:, None]
    used = torch.full((batch,), loop.passes, dtype=torch.long, device=tokens.device)
    active = torch.ones(batch, dtype=torch.bool, device=tokens.device)
    frozen = hidden
    saved: list[tuple[torch.Tensor, torch.Tensor]] = []  # per layer of the block: k/v of each row's last pass
    before = hidden  # the hidden state entering the current pass of the loop
    for step in model.walk(hidden, cos, sin, cache=cache, stop=loop.end):
        hidden = step.out
        done = step.depth + 1 - loop.start  # depths of the loop run so far
        if done == 0:  # the last depth before the loop: its output enters the first pass
            before = hidden
        if done <= 0 or done % loop.size:
            continue
        passes = done // loop.size
        if options.min_passes <= passes < loop.passes:
            exits = active & (sequence_change(model, before, hidden, options.criterion, real) < options.threshold)
            if bool(exits.any()):
                used[exits] = passes
                frozen = torch.where(exits[:, None, None], hidden, frozen)
                _save_last_pass(cache, loop, passes, exits, saved, first, first + length)
                active &= ~exits
                if not bool(active.any()):
                    break
        before = hidden
    hidden = torch.where(active[:, None, None], hidden, frozen)
    _restore_skipped(cache, loop, used, saved, first)
    for step in model.walk(hidden, cos, sin, cache=cache, start=loop.end):
        hidden = step.out
    cache.advance(length)
    return model.unembed(hidden), used


def _save_last_pass(
    cache: KVCache,
    loop: LoopSpan,
    passes: int,
    rows: torch.Tensor,
    saved: list[tuple[torch.Tensor, torch.Tensor]],
    start: int,
    end: int,
) -> None:
    """Keep, for the sequences in `rows`, the keys/values pass `passes` (1-based) just wrote into the block's slots."""
    for j in range(loop.size):
        slot = cache.slot(loop.start + (passes - 1) * loop.size + j)
        assert slot.k is not None and slot.v is not None
        k, v = slot.k[:, :, start:end], slot.v[:, :, start:end]
        if len(saved) <= j:
            saved.append((k.clone(), v.clone()))
        else:
            saved[j][0][rows] = k[rows]
            saved[j][1][rows] = v[rows]


def _restore_skipped(
    cache: KVCache, loop: LoopSpan, used: torch.Tensor, saved: list[tuple[torch.Tensor, torch.Tensor]], start: int
) -> None:
    """Give every pass a sequence skipped its last executed pass's keys/values (what the batch's other rows kept
    computing for it is dropped), so a sequence's cache does not depend on the batch it ran in."""
    if not saved:
        return
    for p in range(loop.passes):
        rows = used <= p  # sequences that did not run pass p + 1
        if not bool(rows.any()):
            continue
        for j in range(loop.size):
            cache.slot(loop.start + p * loop.size + j).write_rows(rows, saved[j][0], saved[j][1], start)
