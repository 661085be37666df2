"""Benchmarked block interventions as plans (seed 004 §4.2-4.3, App. B; seed 000 App. G): skip, swap, reverse
and repeat contiguous blocks of plan positions, scored by held-out loss (and optionally primitive accuracy).

`swap` exchanges the two adjacent blocks [s, s+k) and [s+k, s+2k) (local order inside each is kept);
`reverse` reverses [s, s+k); `repeat` runs [s, s+k) `extra` more times (inference scaling, seed 000 §4).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from ..errors import check_choice, check_int
from ..model import Transformer
from ..model.loss import token_cross_entropy
from ..model.plan import Plan, repeat_block, reverse_block, skip_block, swap_blocks
from .options import DEFAULT_SIZES, OPERATIONS


def intervene(plan: Plan, op: str, start: int, size: int, extra: int = 1) -> Plan | None:
    """The plan after `op` on the block of `size` positions at `start`; None when it does not fit or is a no-op."""
    _check_operation(op)
    if size == 0 or (op == "reverse" and size == 1):
        return None  # an empty block, or reversing one layer: the identity
    blocks = 2 if op == "swap" else 1
    if start + blocks * size > len(plan) or (op == "skip" and size >= len(plan)):
        return None  # the block does not fit (or skipping it would leave no layer)
    if op == "repeat":
        return repeat_block(plan, start, start + size, extra)
    return {"skip": skip_block, "swap": swap_blocks, "reverse": reverse_block}[op](plan, start, size)


def _check_operation(op: str) -> None:
    check_choice("--operations entry", op, OPERATIONS)


@torch.no_grad()
def heldout_loss(model: Transformer, tokens: torch.Tensor, batch_size: int = 8) -> float:
    """Token-mean next-token cross-entropy of `tokens` [N, T] under the model's current plan."""
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for start in range(0, len(tokens), batch_size):
        batch = tokens[start : start + batch_size].to(device)
        batch_total, batch_count = token_cross_entropy(model(batch[:, :-1]), batch[:, 1:])
        total += float(batch_total)
        count += int(batch_count)
    return total / count


def block_interventions(
    model: Transformer,
    tokens: torch.Tensor,
    sizes: Sequence[int] = DEFAULT_SIZES,
    operations: Sequence[str] = OPERATIONS,
    extra: int = 1,
    accuracy=None,
    batch_size: int = 8,
    progress: bool = False,
) -> dict[str, object]:
    """Loss (and `accuracy()` if given, a callable run under each plan) for every op × size × start position.

    Result: `base` metrics and `results[op][size]` = one entry per start (None where the block does not fit).
    """
    for op in operations:
        _check_operation(op)
    for i, k in enumerate(sizes):
        check_int(f"--sizes[{i}]", k, 1)
    base_plan = tuple(model.plan)
    depth = len(base_plan)
    jobs = [(op, k, s) for op in operations for k in sizes for s in range(depth)]
    base = {"loss": heldout_loss(model, tokens, batch_size)}
    if accuracy is not None:
        base["accuracy"] = accuracy()
    results: dict[str, dict[int, list[dict | None]]] = {op: {k: [None] * depth for k in sizes} for op in operations}
    for op, k, s in tqdm(jobs, desc="interventions", disable=not progress, leave=False):
        plan = intervene(base_plan, op, s, k, extra)
        if plan is None:
            continue
        with model.using_plan(plan):
            entry = {"plan": list(plan), "loss": heldout_loss(model, tokens, batch_size)}
            entry["loss_delta"] = entry["loss"] - base["loss"]
            if accuracy is not None:
                entry["accuracy"] = accuracy()
        results[op][k][s] = entry
    return {"base_plan": list(base_plan), "base": base, "sizes": list(sizes), "extra": extra, "results": results}
