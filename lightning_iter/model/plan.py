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
