"""Strategies written for the first strategy API (`initial_layers`, `setup`, `describe`) keep working, stages too."""

import pytest

from lightning_iter.depth import DepthStrategy, StaticStrategy, get_strategy, register_strategy, registry
from lightning_iter.errors import ConfigError
from lightning_iter.model import ModelConfig
from tests.helpers import small_data, small_lm, trainer

CONFIG = ModelConfig.from_name("tiny", n_layers=4)


class Sandwich(StaticStrategy):
    """First API: a fixed tied plan from `initial_layers`, its own `setup` and `describe`."""

    def __init__(self) -> None:
        self.configured = False

    def setup(self, config: ModelConfig) -> None:
        self.configured = True

    def initial_layers(self) -> tuple[int, tuple[int, ...]]:
        return 3, (0, 1, 1, 2)

    def describe(self) -> str:
        return "sandwich: 3 unique layers, plan 0 1 1 2"


class Bare(DepthStrategy):
    """First API on the plain base class: only `initial_layers`."""

    def initial_layers(self) -> tuple[int, tuple[int, ...]]:
        return 2, (0, 1, 0, 1)


@pytest.fixture
def registered():
    register_strategy("sandwich")(Sandwich)
    register_strategy("bare")(Bare)
    try:
        yield
    finally:
        registry._REGISTRY.pop("sandwich", None)
        registry._REGISTRY.pop("bare", None)


@pytest.mark.parametrize("name, plan", [("sandwich", (0, 1, 1, 2)), ("bare", (0, 1, 0, 1))])
def test_initial_layers_is_the_plan_at_every_step(registered, name, plan):
    strategy = get_strategy(name)
    strategy.setup(CONFIG)
    assert [strategy.plan_at(step) for step in (0, 10, 10_000)] == [plan] * 3
    assert strategy.n_unique_at(5) == len(set(plan)) and strategy.initial_layers() == (len(set(plan)), plan)


def test_own_setup_and_describe_still_get_the_retrofit_stage(registered):
    strategy = get_strategy("sandwich", retrofit={"start_step": 4, "block": [1, 3]})
    strategy.setup(CONFIG)
    assert strategy.configured
    assert strategy.plan_at(3) == (0, 1, 1, 2) and strategy.plan_at(4) == (0, 1, 1, 1, 1, 2)
    assert strategy.describe() == (
        "sandwich: 3 unique layers, plan 0 1 1 2; then retrofitted recurrence, plan positions 1..2 x2 from step 4"
    )
    with pytest.raises(ConfigError, match="outside the full-depth plan"):
        get_strategy("sandwich", retrofit={"start_step": 4, "block": [2, 5]}).setup(CONFIG)


def test_a_first_api_strategy_trains_with_its_own_plan(registered):
    lm = small_lm({"name": "sandwich"})
    trainer(max_steps=3).fit(lm, small_data())
    assert (lm.model.n_unique, lm.model.plan) == (3, (0, 1, 1, 2))


def test_a_strategy_without_any_hook_says_what_to_implement():
    class Empty(DepthStrategy):
        pass

    with pytest.raises(NotImplementedError, match="Empty must implement n_unique_at"):
        Empty().plan_at(0)
