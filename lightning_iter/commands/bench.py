"""`lightning_iter bench NAME [options]`: run a benchmark script of the repository's `benchmarks/` folder."""

from __future__ import annotations

import runpy
import sys
from collections.abc import Sequence
from pathlib import Path

BENCHMARKS_DIR = Path(__file__).resolve().parents[2] / "benchmarks"


def available() -> list[str]:
    return sorted(p.stem for p in BENCHMARKS_DIR.glob("*.py") if not p.stem.startswith("_"))


def main(argv: Sequence[str]) -> None:
    from ..errors import ConfigError

    names = available()
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: lightning_iter bench {{{','.join(names)}}} [options]")
        return
    name = argv[0].replace("-", "_")
    if name not in names:
        listing = (
            ", ".join(names) or "(none: the benchmarks/ folder ships with the repository; use an editable install)"
        )
        raise ConfigError(f"benchmark {argv[0]!r} is unknown: available are {listing}")
    saved = sys.argv
    sys.argv = [str(BENCHMARKS_DIR / f"{name}.py"), *argv[1:]]
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    finally:
        sys.argv = saved
