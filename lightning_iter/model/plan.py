"""Layer plans (DESIGN.md §1): the unique-layer index that runs at each effective depth, and all plan algebra.

Every function here is pure (tuples in, tuples out) and raises `PlanError` naming the field, the value and
what is allowed. Positions are effective depths of the plan given, so every operation composes with every
other (a loop can be repeated, a repeated plan intervened on, ...); none of them copies weights.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import PlanError, check_int

Plan = tuple[int, ...]
# The deepest plan a block repetition may build (`repeat_block`, `--repeat`, retrofit): far beyond the seeds'
# sweeps (a few extra passes of a block), short of plans that would run for minutes per token.
MAX_DEPTH = 1024


def identity_plan(n_layers: int) -> Plan:
    """The plan of a plain (untied) model: layer i runs at depth i."""
    return tuple(range(check_int("n_layers", n_layers, 1, error=PlanError)))


def validate_plan(plan: Iterable[int], n_unique: int, field: str = "plan") -> Plan:
    """Return `plan` as a tuple of ints, or raise PlanError naming the first bad entry."""
    try:
        items = tuple(plan)
    except TypeError as err:
        raise PlanError(f"{field}={plan!r} is not allowed: a plan is a sequence of unique-layer indices") from err
    if not items:
        raise PlanError(f"{field}=() is not allowed: a plan needs at least one layer")
    for position, index in enumerate(items):
        check_int(f"{field}[{position}]", index, error=PlanError, allowed="plan entries are integers")
        if not 0 <= index < n_unique:
            raise PlanError(
                f"{field}[{position}]={index} is out of range: the model has {n_unique} unique layers "
                f"(allowed indices 0..{n_unique - 1})"
            )
    return items


def is_identity(plan: Plan) -> bool:
    """Whether `plan` runs every unique layer once, in order (a plain or grown model)."""
    return tuple(plan) == tuple(range(len(plan)))


def format_plan(plan: Plan) -> str:
    """`(0, 1, 0, 1)` -> `"0 1 0 1"` (the form logs and `parse_plan` use)."""
    return " ".join(str(i) for i in plan)


def parse_plan(text: str) -> Plan:
    """`"0 1 0 1"` (spaces and/or commas) -> `(0, 1, 0, 1)`; the inverse of `format_plan`."""
    words = str(text).replace(",", " ").split()
    if not words or not all(word.isascii() and word.isdecimal() for word in words):
        raise PlanError(
            f"plan={text!r} is not allowed: write unique-layer indices (integers >= 0) separated by spaces, "
            "e.g. '0 1 2 1 2 3'"
        )
    return tuple(int(word) for word in words)


def loop_plan(layers: int, repeats: int, encode: int = 0, decode: int = 0) -> Plan:
    """Plan of Loop(e-L×k-d) (seed 000 App. E): e unique encoder layers, an L-layer block run k times, d decoder
    layers; Loop(L×k) is e = d = 0. It has e + L + d unique layers and effective depth e + L·k + d."""
    check_int("layers", layers, 1, error=PlanError)
    check_int("repeats", repeats, 1, error=PlanError)
    check_int("encode", encode, 0, error=PlanError)
    check_int("decode", decode, 0, error=PlanError)
    block = tuple(range(encode, encode + layers))
    return tuple(range(encode)) + block * repeats + tuple(range(encode + layers, encode + layers + decode))


def _check_block(plan: Plan, op: str, start: int, size: int, blocks: int = 1) -> None:
    """Raise unless `blocks` adjacent blocks of `size` positions starting at `start` lie inside `plan`."""
    check_int(f"{op} start", start, 0, error=PlanError)
    check_int(f"{op} size", size, 1, error=PlanError)
    if start + blocks * size > len(plan):
        span = f"{blocks}×{size}" if blocks > 1 else f"{size}"
        raise PlanError(
            f"{op} block start={start}, size={size} is not allowed: its {span} positions {start}:"
            f"{start + blocks * size} must lie within 0:{len(plan)} (the plan has effective depth {len(plan)})"
        )


def repeat_block(plan: Plan, start: int, end: int, extra: int) -> Plan:
    """Run positions `start..end-1` of `plan` `extra` more times right after themselves (no weights copied).

    Positions are effective depths of the *current* plan, so repeating works on any plan (baseline, grown,
    looped, already repeated): `repeat_block((0,1,2,3), 1, 3, 2) == (0, 1, 2, 1, 2, 1, 2, 3)`.
    """
    check_int("repeat extra", extra, 0, error=PlanError)
    if not (isinstance(start, int) and isinstance(end, int)) or not 0 <= start < end <= len(plan):
        raise PlanError(
            f"repeat block {start}:{end} is not allowed: it must be a non-empty range of plan positions "
            f"within 0:{len(plan)} (the plan has effective depth {len(plan)})"
        )
    depth = len(plan) + (end - start) * extra
    if depth > MAX_DEPTH:
        raise PlanError(
            f"repeat extra={extra} is not allowed: repeating block {start}:{end} {extra} more times gives effective "
            f"depth {depth}, above the maximum {MAX_DEPTH} (lightning_iter.model.plan.MAX_DEPTH); at most "
            f"{(MAX_DEPTH - len(plan)) // (end - start)} extra passes of this block"
        )
    block = plan[start:end]
    return plan[:end] + block * extra + plan[end:]


def skip_block(plan: Plan, start: int, size: int) -> Plan:
    """`plan` without positions `start..start+size-1` (seed 004 §4.2); at least one position must remain."""
    _check_block(plan, "skip", start, size)
    if size >= len(plan):
        raise PlanError(f"skip size={size} is not allowed: it would remove all {len(plan)} positions of the plan")
    return plan[:start] + plan[start + size :]


def swap_blocks(plan: Plan, start: int, size: int) -> Plan:
    """Exchange the adjacent blocks [start, start+size) and [start+size, start+2·size), each kept in order."""
    _check_block(plan, "swap", start, size, blocks=2)
    middle, end = start + size, start + 2 * size
    return plan[:start] + plan[middle:end] + plan[start:middle] + plan[end:]


def reverse_block(plan: Plan, start: int, size: int) -> Plan:
    """`plan` with positions [start, start+size) in reverse order (seed 004 §4.3)."""
    _check_block(plan, "reverse", start, size)
    return plan[:start] + plan[start : start + size][::-1] + plan[start + size :]


@dataclass(frozen=True)
class LoopSpan:
    """Plan positions start .. start + size·passes - 1 run the same `size` layers `passes` times in a row."""

    start: int
    size: int
    passes: int

    @property
    def end(self) -> int:
        return self.start + self.size * self.passes

    def check(self, plan: Plan) -> None:
        """Raise PlanError unless this span really is a repeated block of `plan`."""
        block = plan[self.start : self.start + self.size]
        if self.end > len(plan) or block * self.passes != plan[self.start : self.end]:
            raise PlanError(f"{self} is not a repeated block of plan {plan}")


def _passes(plan: Plan, start: int, size: int) -> int:
    """How many times the block plan[start:start+size] runs back to back from `start`."""
    block = plan[start : start + size]
    passes = 1
    while plan[start + passes * size : start + (passes + 1) * size] == block:
        passes += 1
    return passes


def loop_spans(plan: Plan) -> list[LoopSpan]:
    """Every maximal repeated block of `plan` (>= 2 passes), for each block size, that no earlier start extends."""
    spans = []
    n = len(plan)
    for size in range(1, n // 2 + 1):
        for start in range(0, n - 2 * size + 1):
            if start >= size and plan[start - size : start] == plan[start : start + size]:
                continue  # inside a run that starts earlier
            passes = _passes(plan, start, size)
            if passes >= 2:
                spans.append(LoopSpan(start, size, passes))
    return spans


def find_loop(plan: Plan) -> LoopSpan | None:
    """The repeated block of `plan` that covers the most positions (ties: the shorter block, then the earlier)."""
    best: LoopSpan | None = None
    for span in loop_spans(plan):
        if best is None or span.size * span.passes > best.size * best.passes:
            best = span
    return best


def parse_repeat(spec: str) -> tuple[int, int, int]:
    """Parse `--repeat START:ENDxEXTRA` (e.g. `8:12x2`: plan positions 8-11, two extra passes)."""
    text = str(spec).strip().lower().replace(" ", "")
    try:
        block, extra = text.split("x") if "x" in text else (text, "1")
        start, end = block.split(":")
        return int(start), int(end), int(extra)
    except ValueError:
        raise PlanError(
            f"--repeat={spec!r} is not allowed: write START:ENDxEXTRA, e.g. 8:12x2 (plan positions 8-11, "
            "two extra passes); 'xEXTRA' defaults to x1"
        ) from None


def apply_repeat(plan: Plan, spec: str | None) -> Plan:
    """`plan` with the `--repeat` spec applied; `None` or an empty spec leaves it unchanged."""
    if spec is None or str(spec).strip() == "":
        return plan
    try:
        return repeat_block(plan, *parse_repeat(spec))
    except PlanError as err:
        if str(err).startswith("--repeat="):
            raise
        raise PlanError(f"--repeat={spec}: {err}") from None
