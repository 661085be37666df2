"""Depth strategies: depth over a run is one pure function of the global step (DESIGN.md §3).

A strategy answers `n_unique_at(step)` and `plan_at(step)`: static ones fix both at build time, staged ones
(grow operators) grow on a schedule, and any strategy may carry a `retrofit:` stage (`depth/retrofit.py`).
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from bisect import bisect_right
from typing import Any

import torch

from ..errors import ConfigError, check_float, check_int
from ..model.config import ModelConfig
from ..model.plan import Plan, identity_plan
from ..model.transformer import Transformer
from .retrofit import Retrofit
from .schedule import prop_alpha, stage_boundaries
from .transaction import grow_layers


def _positive_int(field: str, value: Any, minimum: int = 1) -> int:
    """`depth.<field>` checked to be an integer >= `minimum`."""
    return check_int(f"depth.{field}", value, minimum)


class DepthStrategy(ABC):  # noqa: B024 - no abstract method: first-API strategies implement other hooks
    """Decides the layer plan over training. Subclasses are registered with `@register_strategy(name)`.

    Subclasses implement `n_unique_at` (and `base_plan_at` when their plan is not the identity), and
    `configure`/`summary` rather than `setup`/`describe`, so that the stages (`retrofit`) apply to every one.
    Strategies written for the first API keep working: an `initial_layers()` override gives the layers and plan
    (the plan until the strategy grows), and `setup()`/`describe()` overrides still get the stages' check and text.
    """

    strategy_name: str = "?"
    retrofit: Retrofit | None = None  # attached by `get_strategy` from `depth.retrofit`

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "setup" in cls.__dict__:
            cls.setup = _then_check_stages(cls.__dict__["setup"])
        if "describe" in cls.__dict__:
            cls.describe = _with_stages(cls.__dict__["describe"])

    def setup(self, config: ModelConfig) -> None:
        """Resolve the model-dependent defaults (`configure`), then check the stages against the full-depth plan."""
        self.configure(config)
        self.check_stages()

    def check_stages(self) -> None:
        """Reject a retrofit stage that does not fit the full-depth plan (or starts before growth ends)."""
        if self.retrofit is not None:
            growth = self.growth_steps()
            self.retrofit.check(growth, self.base_plan_at(max(growth, default=0)))

    def configure(self, config: ModelConfig) -> None:  # noqa: B027 - an optional hook, not abstract
        """Resolve defaults that depend on the model (e.g. the target depth) and validate them."""

    def n_unique_at(self, step: int) -> int:
        """Unique layers the model has while training optimizer step `step` (a pure function of the step)."""
        if _overrides(self, "initial_layers"):
            return self.initial_layers()[0]
        raise NotImplementedError(f"depth strategy {type(self).__name__} must implement n_unique_at(step)")

    def base_plan_at(self, step: int) -> Plan:
        """The strategy's own plan at `step`, before its stages: the identity over `n_unique_at(step)` layers
        (a first-API strategy: its `initial_layers()` plan while it has that many unique layers)."""
        n = self.n_unique_at(step)
        if _overrides(self, "initial_layers"):
            n0, plan0 = self.initial_layers()
            if n == n0:
                return tuple(plan0)
        return identity_plan(n)

    def plan_at(self, step: int) -> Plan:
        """The plan the model trains optimizer step `step` with (a pure function of the step)."""
        plan = self.base_plan_at(step)
        return plan if self.retrofit is None else self.retrofit.plan_at(step, plan)

    def initial_layers(self) -> tuple[int, Plan]:
        """Unique-layer count and plan of the model at step 0."""
        return self.n_unique_at(0), self.plan_at(0)

    def growth_steps(self) -> list[int]:
        """Global steps at which the model grows by one stage (none for static strategies)."""
        return []

    def apply(self, model: Transformer, optimizer: torch.optim.Optimizer | None = None) -> None:
        """Perform one growth step; static strategies have none."""
        raise ConfigError(f"depth strategy {self.strategy_name!r} is static: it does not grow models")

    def params(self) -> dict[str, Any]:
        """The constructor arguments, so that `get_strategy(**spec())` rebuilds this strategy."""
        return {}

    def spec(self) -> dict[str, Any]:
        """Name, parameters and stages: what a checkpoint records and `get_strategy(**spec())` rebuilds."""
        stages = {} if self.retrofit is None else {"retrofit": self.retrofit.spec()}
        return {"name": self.strategy_name, **self.params(), **stages}

    def describe(self) -> str:
        """One line for the log: the strategy's `summary()` and its stages."""
        return self.summary() if self.retrofit is None else f"{self.summary()}; then {self.retrofit.describe()}"

    def summary(self) -> str:
        """The strategy itself in one line (without its stages)."""
        n, plan = self.n_unique_at(0), self.base_plan_at(0)
        return f"{self.strategy_name}: {n} unique layers, effective depth {len(plan)}"


class StaticStrategy(DepthStrategy):
    """A strategy whose unique layers and base plan never change during training (baseline, loops)."""

    def fixed_layers(self) -> tuple[int, Plan]:
        """Unique-layer count and plan, the same at every step (a first-API strategy: its `initial_layers()`)."""
        if _overrides(self, "initial_layers"):
            n, plan = self.initial_layers()
            return n, tuple(plan)
        raise NotImplementedError(f"static depth strategy {type(self).__name__} must implement fixed_layers()")

    def n_unique_at(self, step: int) -> int:
        return self.fixed_layers()[0]

    def base_plan_at(self, step: int) -> Plan:
        return self.fixed_layers()[1]


class GrowOperator(DepthStrategy):
    """Staged growth by `block_size` layers per stage under the PROP-α schedule (seed 004 §3.1, App. A).

    Subclasses implement `select(depth) -> (sources, insert_at)`: which existing layers to copy, in
    order, and where the copies are inserted.
    """

    def __init__(
        self,
        block_size: int,
        horizon: int,
        initial_depth: int | None = None,
        target_depth: int | None = None,
        alpha: float = 1.0,
    ) -> None:
        self.block_size = _positive_int("block_size", block_size)
        self.horizon = _positive_int("horizon", horizon, minimum=0)
        self.initial_depth = block_size if initial_depth is None else _positive_int("initial_depth", initial_depth)
        self.target_depth = None if target_depth is None else _positive_int("target_depth", target_depth)
        self.alpha = check_float("depth.alpha", alpha, 0)
        if self.target_depth is not None:
            self._validate()

    def configure(self, config: ModelConfig) -> None:
        if self.target_depth is None:
            self.target_depth = config.n_layers
        self._validate()

    def _validate(self) -> None:
        b, start, end = self.block_size, self.initial_depth, self.target_depth
        if start > end:
            raise ConfigError(
                f"depth.initial_depth={start} is above the target depth {end}: growth only adds layers "
                f"(allowed initial depths: {self._allowed_initial_depths(end)})"
            )
        if (end - start) % b:
            raise ConfigError(
                f"depth.block_size={b} cannot reach the target depth {end} from depth.initial_depth={start}: "
                f"the difference {end - start} must be a multiple of the block size"
            )
        self._check_depth(start)
        stages = prop_alpha(self.n_stages, self.horizon, self.alpha)
        if min(stages) < 1:
            raise ConfigError(
                f"depth.horizon={self.horizon} is too short for {self.n_stages} stages under PROP-{self.alpha:g}: "
                f"stage steps would be {stages}; every stage needs at least one step"
            )
        self._stage_steps = stages
        self._boundaries = stage_boundaries(stages)

    def _allowed_initial_depths(self, end: int) -> str:
        return ", ".join(str(d) for d in range(end % self.block_size or self.block_size, end + 1, self.block_size))

    def _check_depth(self, depth: int) -> None:
        """Raise ConfigError if this operator cannot grow a model of `depth` layers."""
        if depth < self.block_size:
            raise ConfigError(
                f"depth.initial_depth={depth} is smaller than depth.block_size={self.block_size}: "
                "a growth step copies block_size existing layers"
            )

    @property
    def n_stages(self) -> int:
        assert self.target_depth is not None, "call setup(config) first"
        return (self.target_depth - self.initial_depth) // self.block_size + 1

    def stage_steps(self) -> list[int]:
        """Training steps of each stage under PROP-α (Σ = horizon)."""
        assert self.target_depth is not None, "call setup(config) first"
        return list(self._stage_steps)

    def growth_steps(self) -> list[int]:
        assert self.target_depth is not None, "call setup(config) first"
        return list(self._boundaries)

    def n_unique_at(self, step: int) -> int:
        assert self.target_depth is not None, "call setup(config) first"
        grown = bisect_right(self._boundaries, step)
        return self.initial_depth + grown * self.block_size

    @abstractmethod
    def select(self, depth: int) -> tuple[list[int], int]:
        """Which existing layers to copy (in order) and the index at which the copies are inserted."""

    def apply(self, model: Transformer, optimizer: torch.optim.Optimizer | None = None) -> None:
        """One growth step on the model and, when given, its optimizer state."""
        sources, insert_at = self.select(model.n_unique)
        grow_layers(model, sources, insert_at, optimizer)

    def params(self) -> dict[str, Any]:
        return {
            "block_size": self.block_size,
            "horizon": self.horizon,
            "initial_depth": self.initial_depth,
            "target_depth": self.target_depth,
            "alpha": self.alpha,
        }

    def summary(self) -> str:
        return (
            f"{self.strategy_name}: grow {self.initial_depth} -> {self.target_depth} layers by {self.block_size} "
            f"in {self.n_stages} stages of {self.stage_steps()} steps (PROP-{self.alpha:g}, horizon {self.horizon}); "
            f"growth at steps {self.growth_steps()}"
        )


def _overrides(strategy: DepthStrategy, name: str) -> bool:
    """Whether `strategy`'s class replaces `DepthStrategy.<name>` (the first API's hooks)."""
    return getattr(type(strategy), name) is not getattr(DepthStrategy, name)


def _then_check_stages(setup: Any) -> Any:
    """A subclass's own `setup`, followed by the stages' check it would otherwise skip."""

    @functools.wraps(setup)
    def wrapped(self: DepthStrategy, config: ModelConfig) -> None:
        setup(self, config)
        self.check_stages()

    return wrapped


def _with_stages(describe: Any) -> Any:
    """A subclass's own `describe`, with the stages' description appended unless it already has it."""

    @functools.wraps(describe)
    def wrapped(self: DepthStrategy) -> str:
        text = describe(self)
        if self.retrofit is None or self.retrofit.describe() in text:
            return text
        return f"{text}; then {self.retrofit.describe()}"

    return wrapped
