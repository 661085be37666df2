"""The PROP-α stage schedule of Saunshi et al. (2024), as used in seed 004 App. A and seed 000 App. F."""

from __future__ import annotations

import math

from ..errors import check_float, check_int


def prop_alpha(n_stages: int, horizon: int, alpha: float = 1.0) -> list[int]:
    """Steps per stage: T_i = i^α / Σ_j j^α · T for i = 1..k, rounded by largest remainder so Σ T_i = T.

    Ties in the remainders go to the later stage (deterministic, and later stages are the larger ones).
    """
    check_int("number of stages", n_stages, 1)
    check_int("depth.horizon", horizon, 0)
    check_float("depth.alpha", alpha, 0)
    weights = [i**alpha for i in range(1, n_stages + 1)]
    total = sum(weights)
    exact = [w / total * horizon for w in weights]
    steps = [math.floor(x) for x in exact]
    short = horizon - sum(steps)
    by_remainder = sorted(range(n_stages), key=lambda i: (exact[i] - steps[i], i), reverse=True)
    for i in by_remainder[:short]:
        steps[i] += 1
    return steps


def stage_boundaries(stage_steps: list[int]) -> list[int]:
    """Global steps at which stage i+1 begins, i.e. where the model grows: running sums of all but the last stage."""
    boundaries, total = [], 0
    for steps in stage_steps[:-1]:
        total += steps
        boundaries.append(total)
    return boundaries
