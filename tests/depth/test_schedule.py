"""PROP-α stage budgets (seed 004 App. A): sums, largest-remainder rounding, growth steps."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_iter.depth import get_strategy, prop_alpha, stage_boundaries
from lightning_iter.errors import ConfigError


@settings(max_examples=200, deadline=None)
@given(k=st.integers(1, 40), horizon=st.integers(0, 500_000), alpha=st.floats(0, 4))
def test_prop_alpha_sums_to_horizon_and_rounds_by_largest_remainder(k, horizon, alpha):
    steps = prop_alpha(k, horizon, alpha)
    assert len(steps) == k and sum(steps) == horizon
    weights = [i**alpha for i in range(1, k + 1)]
    exact = [w / sum(weights) * horizon for w in weights]
    # every stage is its exact share rounded down or up, and only the largest remainders were rounded up
    assert all(math.floor(x) <= s <= math.floor(x) + 1 for s, x in zip(steps, exact))
    up = [i for i in range(k) if steps[i] > math.floor(exact[i])]
    down = [i for i in range(k) if steps[i] == math.floor(exact[i])]
    if up and down:
        assert (
            min(exact[i] - math.floor(exact[i]) for i in up)
            >= max(exact[i] - math.floor(exact[i]) for i in down) - 1e-9
        )


@settings(max_examples=100, deadline=None)
@given(k=st.integers(1, 20), horizon=st.integers(0, 100_000), alpha=st.floats(0, 3))
def test_prop_alpha_stage_lengths_are_non_decreasing(k, horizon, alpha):
    steps = prop_alpha(k, horizon, alpha)
    assert all(a <= b + 1 for a, b in zip(steps, steps[1:]))


def test_prop1_for_the_seeds_360m_schedule():
    steps = prop_alpha(8, 170_000, 1.0)  # 32 layers, b = 4
    assert sum(steps) == 170_000
    assert (
        steps == [round(i / 36 * 170_000) for i in range(1, 9)]
        or max(abs(s - i / 36 * 170_000) for s, i in zip(steps, range(1, 9))) < 1
    )
    assert stage_boundaries(steps)[-1] == 170_000 - steps[-1]


def test_alpha_zero_is_an_even_split():
    assert prop_alpha(4, 10, 0.0) == [2, 2, 3, 3]


def test_depth_is_a_function_of_the_step():
    op = get_strategy("lidas", block_size=2, horizon=48, target_depth=8)
    assert op.stage_steps() == [5, 10, 14, 19]
    assert op.growth_steps() == [5, 15, 29]
    assert [op.n_unique_at(s) for s in (0, 4, 5, 14, 15, 28, 29, 48, 10**6)] == [2, 2, 4, 4, 6, 6, 8, 8, 8]


def test_bad_schedule_inputs():
    with pytest.raises(ConfigError, match="depth.horizon=-1 is not allowed"):
        prop_alpha(3, -1)
    with pytest.raises(ConfigError, match="depth.alpha=-1"):
        prop_alpha(3, 10, -1.0)
