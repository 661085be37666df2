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
    [(dict(layers=4, repeats=8), 4, 32, "Loop(4×8)"), (dict(layers=4, repeats=6), 4, 24, "Loop(4×6)"),
     (dict(layers=4, repeats=4, encode=4, decode=4), 12, 24, "Loop(4-4×4-4)")],
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
