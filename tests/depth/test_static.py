"""Static strategies: baseline and the loop topologies of seed 000 App. E, as plans (DESIGN.md §1)."""

import pytest

from lightning_iter.depth import get_strategy, loop_plan
from lightning_iter.errors import ConfigError
from lightning_iter.model import ModelConfig


def test_design_table_plans():
    assert loop_plan(4, 2) == (0, 1, 2, 3, 0, 1, 2, 3)
    assert loop_plan(2, 2, encode=2, decode=2) == (0, 1, 2, 3, 2, 3, 4, 5)


@pytest.mark.parametrize(
    "params, unique, depth, label",
    [
        (dict(layers=4, repeats=8), 4, 32, "Loop(4×8)"),
        (dict(layers=4, repeats=6), 4, 24, "Loop(4×6)"),
        (dict(layers=4, repeats=4, encode=4, decode=4), 12, 24, "Loop(4-4×4-4)"),
    ],
)
def test_loop_topologies_of_table3(params, unique, depth, label):
    loop = get_strategy("loop", **params)
    n, plan = loop.initial_layers()
    assert (n, len(plan), loop.label()) == (unique, depth, label)
    assert sorted(set(plan)) == list(range(unique))


def test_baseline_uses_the_models_depth():
    base = get_strategy("baseline")
    base.setup(ModelConfig.from_name("tiny", n_layers=5))
    assert base.initial_layers() == (5, (0, 1, 2, 3, 4))
    assert base.growth_steps() == [] and base.n_unique_at(10**6) == 5
    with pytest.raises(ConfigError, match="static"):
        base.apply(None)


def test_loop_errors():
    with pytest.raises(ConfigError, match="depth.repeats=0 is not allowed"):
        get_strategy("loop", layers=2, repeats=0)
    with pytest.raises(ConfigError, match="needs depth.layers"):
        get_strategy("loop", repeats=2)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from lightning_iter.errors import PlanError  # noqa: E402
from lightning_iter.model import validate_plan  # noqa: E402


@settings(max_examples=100, deadline=None)
@given(layers=st.integers(1, 8), repeats=st.integers(1, 8), encode=st.integers(0, 4), decode=st.integers(0, 4))
def test_loop_plan_properties(layers, repeats, encode, decode):
    plan = loop_plan(layers, repeats, encode, decode)
    assert len(plan) == encode + layers * repeats + decode
    assert validate_plan(plan, encode + layers + decode) == plan
    counts = [plan.count(i) for i in range(encode + layers + decode)]
    assert counts == [1] * encode + [repeats] * layers + [1] * decode
    assert plan[:encode] == tuple(range(encode))
    assert plan[len(plan) - decode :] == tuple(range(encode + layers, encode + layers + decode))


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 10), plan=st.lists(st.integers(-3, 12), min_size=1, max_size=20))
def test_validate_plan_accepts_exactly_the_in_range_plans(n, plan):
    if all(0 <= i < n for i in plan):
        assert validate_plan(plan, n) == tuple(plan)
    else:
        with pytest.raises(PlanError, match="out of range"):
            validate_plan(plan, n)
