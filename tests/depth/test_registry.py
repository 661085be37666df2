"""The strategy registry: decorator registration, entry-point plugins, clear errors."""

import sys
import textwrap

import pytest

from lightning_iter.depth import (
    GrowOperator,
    get_strategy,
    list_strategies,
    register_strategy,
    registry,
    strategy_class,
)
from lightning_iter.errors import ConfigError, UnknownStrategyError
from lightning_iter.model import ModelConfig


def test_builtins_are_registered():
    assert {"baseline", "midas", "lidas", "loop"} <= set(list_strategies())


def test_unknown_strategy_lists_the_known_ones():
    with pytest.raises(
        UnknownStrategyError,
        match=r"depth.name='midass' is not a known depth strategy: known strategies are baseline, lidas, loop, midas",
    ):
        get_strategy("midass")


def test_decorator_registration_and_name_clash():
    @register_strategy("test-front-grow")
    class FrontGrow(GrowOperator):
        def select(self, depth):
            return list(range(self.block_size)), 0

    try:
        op = get_strategy("test-front-grow", block_size=2, horizon=10, target_depth=6)
        assert op.select(4) == ([0, 1], 0) and op.spec()["name"] == "test-front-grow"
        with pytest.raises(ConfigError, match="already registered"):
            register_strategy("test-front-grow")(type("Other", (GrowOperator,), {"select": lambda self, d: ([0], 0)}))
    finally:
        registry._REGISTRY.pop("test-front-grow", None)


def test_a_registered_strategy_gets_the_retrofit_stage_for_free():
    @register_strategy("test-tail-grow")
    class TailGrow(GrowOperator):
        def select(self, depth):
            return list(range(depth - self.block_size, depth)), depth

    try:
        op = get_strategy(
            "test-tail-grow",
            block_size=2,
            horizon=10,
            target_depth=6,
            retrofit={"start_step": 7, "block": "4:6", "extra": 2},
        )
        op.setup(ModelConfig.from_name("tiny", n_layers=6))
        assert op.plan_at(6) == (0, 1, 2, 3, 4, 5) and op.plan_at(7) == (0, 1, 2, 3, 4, 5, 4, 5, 4, 5)
        assert op.spec()["retrofit"] == {"start_step": 7, "block": "4:6", "extra": 2}
        with pytest.raises(ConfigError, match="allowed parameters are block_size, .*, retrofit"):
            get_strategy("test-tail-grow", block_size=2, horizon=10, retrofitt={})
    finally:
        registry._REGISTRY.pop("test-tail-grow", None)


def _install_plugin(root, dist_name, module, strategy_name, body):
    """A real installed distribution: a module plus a .dist-info with entry_points.txt on sys.path."""
    (root / f"{module}.py").write_text(textwrap.dedent(body))
    info = root / f"{dist_name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[lightning_iter.strategies]\n{strategy_name} = {module}:Plugin\n")


def test_entry_point_plugin_is_discovered(tmp_path, monkeypatch):
    _install_plugin(
        tmp_path,
        "my_strategies",
        "my_strategies_mod",
        "tail-grow",
        """
        from lightning_iter.depth import GrowOperator

        class Plugin(GrowOperator):
            \"\"\"Copy the last block and append it.\"\"\"
            def select(self, depth):
                return list(range(depth - self.block_size, depth)), depth
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert "tail-grow" in list_strategies()
        op = get_strategy("tail-grow", block_size=2, horizon=10, target_depth=6)
        assert op.select(4) == ([2, 3], 4)
        assert strategy_class("tail-grow").__module__ == "my_strategies_mod"
    finally:
        registry._REGISTRY.pop("tail-grow", None)
        sys.modules.pop("my_strategies_mod", None)


@pytest.mark.parametrize("alpha", [True, float("nan"), -1.0, "1"])
def test_bad_alpha_is_rejected_when_the_strategy_is_built(alpha):
    with pytest.raises(ConfigError, match=r"depth.alpha=.* is not allowed: it must be a finite number >= 0"):
        get_strategy("lidas", block_size=2, horizon=10, alpha=alpha)
