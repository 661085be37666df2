"""`lightning_iter bench NAME [options]`: run a benchmark script of the repository's `benchmarks/` folder.

Without a name (or with `--help`) it lists the benchmarks, one line each, and exits 0. Results go under the
working directory, `runs/bench/NAME/` unless `--out DIR` is given; the folder is printed at the end.
"""

from __future__ import annotations

import ast
import runpy
import sys
from collections.abc import Sequence
from pathlib import Path

BENCHMARKS_DIR = Path(__file__).resolve().parents[2] / "benchmarks"
DEFAULT_OUT = Path("runs") / "bench"


def available() -> list[str]:
    return sorted(p.stem for p in BENCHMARKS_DIR.glob("*.py") if not p.stem.startswith("_"))


def summary(name: str) -> str:
    """The first line of benchmark `name`'s docstring (read from the source: nothing is imported)."""
    path = BENCHMARKS_DIR / f"{name}.py"
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"), str(path))) or ""
    return doc.strip().split("\n")[0]


def listing(names: list[str]) -> str:
    if not names:
        return "no benchmarks: the benchmarks/ folder ships with the repository; use an editable install"
    width = max(len(n) for n in names)
    rows = "\n".join(f"  {n:{width}s}  {summary(n)}" for n in names)
    return (
        f"usage: lightning_iter bench NAME [options]   (lightning_iter bench NAME --help: its options)\n\n"
        f"benchmarks:\n{rows}\n\nresults go to ./{DEFAULT_OUT}/NAME/ unless --out DIR is given"
    )


def out_argument(argv: list[str]) -> tuple[list[str], Path | None]:
    """`argv` unchanged and the folder its `--out` names (None without one, or for `--help`: `main` adds it)."""
    for i, arg in enumerate(argv):
        if arg in ("-h", "--help"):
            return argv, None
        if arg == "--out" and i + 1 < len(argv):
            return argv, Path(argv[i + 1])
        if arg.startswith("--out="):
            return argv, Path(arg.partition("=")[2])
    return argv, None


def main(argv: Sequence[str]) -> None:
    from ..errors import ConfigError

    names = available()
    if not argv or argv[0] in ("-h", "--help"):
        print(listing(names))
        return
    name = argv[0].replace("-", "_")
    if name not in names:
        known = ", ".join(names) or "(none: the benchmarks/ folder ships with the repository; use an editable install)"
        raise ConfigError(f"benchmark {argv[0]!r} is unknown: available are {known}")
    rest, out = out_argument(list(argv[1:]))
    if out is None and not any(a in ("-h", "--help") for a in rest):
        out = DEFAULT_OUT / name
        rest += ["--out", str(out)]
    saved = sys.argv
    sys.argv = [str(BENCHMARKS_DIR / f"{name}.py"), *rest]
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    finally:
        sys.argv = saved
    if out is not None:
        print(f"[lightning_iter] bench {name}: results in {out.resolve()}")
