"""Error types for bad input, and the validators that raise them: one clear message naming the field, the value
and what is allowed (`check_int`, `check_ints`, `check_float`, `check_choice`).

The CLI prints these as a single line (no traceback) and exits with status 2.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


class LightningIterError(ValueError):
    """Base class for every user-facing input error of lightning_iter."""


class ConfigError(LightningIterError):
    """A configuration field has a value that is not allowed."""


class PlanError(LightningIterError):
    """A layer plan refers to layers the model does not have, or is otherwise malformed."""


class UnknownStrategyError(LightningIterError):
    """A depth strategy name is not registered."""


class CheckpointError(LightningIterError):
    """A checkpoint does not belong to the model being built, or is malformed."""


def _fail(error: type[LightningIterError], field: str, value: Any, allowed: str) -> LightningIterError:
    return error(f"{field}={value!r} is not allowed: {allowed}")


def _number(bound: float) -> str:
    """`bound` as short as it reads back exactly (`0`, not `0.0`; all digits where `:g` would round)."""
    if isinstance(bound, int):
        return str(bound)
    return f"{bound:g}" if float(f"{bound:g}") == bound else repr(bound)


def check_int(
    field: str,
    value: Any,
    minimum: int | None = None,
    maximum: int | None = None,
    *,
    error: type[LightningIterError] = ConfigError,
    allowed: str | None = None,
) -> int:
    """`value` if it is an int (not a bool) within [minimum, maximum]; else `error` naming field, value and range.

    `allowed` replaces the generated "it must be ..." text where a field needs its own words."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
    ):
        if allowed is not None:
            pass
        elif minimum is not None and maximum is not None:
            allowed = f"it must be an integer in {minimum}..{maximum}"
        elif minimum is not None:
            allowed = f"it must be an integer >= {minimum}"
        elif maximum is not None:
            allowed = f"it must be an integer <= {maximum}"
        else:
            allowed = "it must be an integer"
        raise _fail(error, field, value, allowed)
    return value


def check_ints(
    field: str, values: Iterable[Any], minimum: int | None = None, *, error: type[LightningIterError] = ConfigError
) -> list[int]:
    """Every entry checked by `check_int` (the field named with its index); a non-empty list is required."""
    items = list(values)
    if not items:
        raise _fail(error, field, items, "give at least one integer")
    return [check_int(f"{field}[{i}]", v, minimum, error=error) for i, v in enumerate(items)]


def check_float(
    field: str,
    value: Any,
    minimum: float | None = None,
    maximum: float | None = None,
    *,
    above: float | None = None,
    error: type[LightningIterError] = ConfigError,
    allowed: str | None = None,
) -> float:
    """`value` as a float if it is a finite real number (not a bool) within the bounds (`above`: strictly greater)."""
    try:
        number = math.nan if isinstance(value, bool) or not isinstance(value, (int, float)) else float(value)
    except OverflowError:  # an int beyond the float range
        number = math.inf
    # compare `value` itself: an int beyond 2**53 must not round into or out of range
    ok = math.isfinite(number) and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    ok = ok and (above is None or value > above)
    if not ok:
        bounds = [f"{op} {_number(b)}" for op, b in ((">", above), (">=", minimum), ("<=", maximum)) if b is not None]
        if allowed is None:
            allowed = "it must be a finite number" + (f" {' and '.join(bounds)}" if bounds else "")
        raise _fail(error, field, value, allowed)
    return number


def check_choice(
    field: str,
    value: Any,
    choices: Iterable[Any],
    *,
    error: type[LightningIterError] = ConfigError,
    allowed: str | None = None,
) -> Any:
    """`value` if it is one of `choices`, of the same type (`1.0` or `True` never stands for `1`); else `error`."""
    options = tuple(choices)
    if not any(type(c) is type(value) and c == value for c in options):
        raise _fail(error, field, value, allowed or f"choose one of {', '.join(str(c) for c in options)}")
    return value


def find_input_error(err: BaseException) -> LightningIterError | None:
    """`err` itself or the LightningIterError it wraps (jsonargparse re-raises a class's error while it builds
    the data module, model or a callback, with ours as the `__cause__`), else None.

    Only explicit causes (`raise ... from ours`) count: an error raised while *handling* ours (`__context__`) is a
    bug of its own and stays a traceback."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, LightningIterError):
            return current
        seen.add(id(current))
        current = current.__cause__
    return None
