"""Layer plans (DESIGN.md §1): the unique-layer index that runs at each effective depth."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import PlanError

Plan = tuple[int, ...]


def identity_plan(n_layers: int) -> Plan:
    """The plan of a plain (untied) model: layer i runs at depth i."""
    return tuple(range(n_layers))


def validate_plan(plan: Iterable[int], n_unique: int, field: str = "plan") -> Plan:
    """Return `plan` as a tuple of ints, or raise PlanError naming the first bad entry."""
    try:
        items = tuple(plan)
    except TypeError as err:
        raise PlanError(f"{field}={plan!r} is not allowed: a plan is a sequence of unique-layer indices") from err
    if not items:
        raise PlanError(f"{field}=() is not allowed: a plan needs at least one layer")
    for position, index in enumerate(items):
        if isinstance(index, bool) or not isinstance(index, int):
            raise PlanError(f"{field}[{position}]={index!r} is not allowed: plan entries are integers")
        if not 0 <= index < n_unique:
            raise PlanError(
                f"{field}[{position}]={index} is out of range: the model has {n_unique} unique layers "
                f"(allowed indices 0..{n_unique - 1})"
            )
    return items


def is_identity(plan: Plan) -> bool:
    return plan == identity_plan(len(plan))


def format_plan(plan: Plan) -> str:
    return " ".join(str(i) for i in plan)


def repeat_block(plan: Plan, start: int, end: int, extra: int) -> Plan:
    """Run positions `start..end-1` of `plan` `extra` more times right after themselves (no weights copied).

    Positions are effective depths of the *current* plan, so repeating works on any plan (baseline, grown,
    looped, already repeated): `repeat_block((0,1,2,3), 1, 3, 2) == (0, 1, 2, 1, 2, 1, 2, 3)`.
    """
    if isinstance(extra, bool) or not isinstance(extra, int) or extra < 0:
        raise PlanError(f"repeat extra={extra!r} is not allowed: the number of extra passes is an integer >= 0")
    if not (isinstance(start, int) and isinstance(end, int)) or not 0 <= start < end <= len(plan):
        raise PlanError(
            f"repeat block {start}:{end} is not allowed: it must be a non-empty range of plan positions "
            f"within 0:{len(plan)} (the plan has effective depth {len(plan)})"
        )
    block = plan[start:end]
    return plan[:end] + block * extra + plan[end:]


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
    return repeat_block(plan, *parse_repeat(spec))
