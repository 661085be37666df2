"""The depth-strategy registry: built-ins by decorator, third-party ones through entry points.

A package that declares `[project.entry-points."lightning_iter.strategies"] my-grow = "pkg.mod:MyGrow"`
makes `depth: {name: my-grow}` work in YAML once it is installed. `depth.retrofit` is parsed here for every
strategy, so a third-party one gets the retrofit stage for free.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any, TypeVar

from ..errors import ConfigError, UnknownStrategyError
from .retrofit import Retrofit

ENTRY_POINT_GROUP = "lightning_iter.strategies"

_REGISTRY: dict[str, type] = {}
_T = TypeVar("_T", bound=type)


def register_strategy(name: str) -> Callable[[_T], _T]:
    """Class decorator: make a DepthStrategy subclass available under `name`."""

    def decorate(cls: _T) -> _T:
        existing = _REGISTRY.get(name)
        if existing is not None and existing is not cls:
            raise ConfigError(
                f"depth strategy name {name!r} is already registered by {existing.__module__}.{existing.__qualname__}"
            )
        _REGISTRY[name] = cls
        cls.strategy_name = name
        return cls

    return decorate


def _load_entry_points() -> None:
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in _REGISTRY:
            continue
        cls = entry.load()
        register_strategy(entry.name)(cls)


def list_strategies() -> list[str]:
    """Names of every known strategy, built-in and installed through entry points, sorted."""
    _load_entry_points()
    return sorted(_REGISTRY)


def strategy_class(name: str) -> type:
    """The class registered under `name`, or UnknownStrategyError listing the known names."""
    if name not in _REGISTRY:
        _load_entry_points()
    if name not in _REGISTRY:
        raise UnknownStrategyError(
            f"depth.name={name!r} is not a known depth strategy: known strategies are {', '.join(list_strategies())}"
        )
    return _REGISTRY[name]


def get_strategy(name: str, retrofit: Mapping[str, Any] | Retrofit | None = None, **params: Any) -> Any:
    """Instantiate the strategy registered under `name` with `params`, with the `retrofit` stage attached when given;
    bad parameters name what is allowed."""
    cls = strategy_class(name)
    stage = None if retrofit is None else Retrofit.from_spec(retrofit)
    signature = inspect.signature(cls.__init__)
    accepted = [p for p in signature.parameters if p != "self"]
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    unknown = sorted(set(params) - set(accepted))
    if unknown and not takes_kwargs:
        raise ConfigError(
            f"depth.{unknown[0]} is not a parameter of depth strategy {name!r}: allowed parameters are "
            f"{', '.join([*accepted, 'retrofit'])}"
        )
    missing = [
        p.name
        for p in signature.parameters.values()
        if p.name != "self"
        and p.default is inspect.Parameter.empty
        and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        and p.name not in params
    ]
    if missing:
        raise ConfigError(
            f"depth strategy {name!r} needs depth.{missing[0]}: required parameters are {', '.join(missing)}"
        )
    strategy = cls(**params)
    if stage is not None:
        strategy.retrofit = stage
    return strategy
