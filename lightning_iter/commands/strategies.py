"""`lightning_iter strategies`: list the registered depth strategies (built-in and installed plugins)."""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str]) -> None:
    from jsonargparse import ArgumentParser

    from ..depth import list_strategies, strategy_class

    ArgumentParser(prog="lightning_iter strategies", description=__doc__.splitlines()[0]).parse_args(list(argv))
    for name in list_strategies():
        cls = strategy_class(name)
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        print(f"{name:12s} {cls.__module__}.{cls.__qualname__}  {doc}")
