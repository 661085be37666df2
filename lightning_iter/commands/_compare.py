"""`analyze --compare CKPT CKPT ...`: run the analyses of each checkpoint, then the side-by-side figures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from jsonargparse import ArgumentParser, Namespace

from ..errors import ConfigError
from ._common import join_items


def add_compare_arguments(parser: ArgumentParser) -> None:
    """`--compare` (checkpoints, instead of `--ckpt_path`) and `--labels` (their names in the figures)."""
    parser.add_argument(
        "--compare",
        nargs="+",
        type=str,
        default=None,
        help="analyse several checkpoints (e.g. baseline, grown, looped) into OUT/<label>/ and draw "
        "OUT/compare_<analysis>.png side by side, aligned by effective depth; --repeat applies to each",
    )
    parser.add_argument(
        "--labels", nargs="+", type=str, default=None, help="names of the --compare checkpoints (default: stems)"
    )


def run_comparison(cfg: Namespace, names: list[str], analyze: Callable[[Namespace, list[str], Path], Any]) -> None:
    """`analyze(cfg with ckpt_path=C, names, OUT/<label>)` for every C of `--compare`, then `compare_runs`."""
    from ..analysis.compare import compare_labels, compare_runs, load_run

    cfg.compare, cfg.labels = join_items(cfg.compare), join_items(cfg.labels)
    if len(cfg.compare) < 2:
        raise ConfigError(f"--compare={list(cfg.compare)} is not allowed: give at least two checkpoints to compare")
    out = Path(cfg.out)
    labels = compare_labels(cfg.compare, cfg.labels)
    runs = []
    for ckpt, label in zip(cfg.compare, labels):
        one = cfg.clone()
        one.ckpt_path = ckpt
        analyze(one, names, out / label)
        runs.append(load_run(label, out / label))
    result = compare_runs(runs, out)
    print(f"[lightning_iter] compared {', '.join(labels)}: {', '.join(result['figures'].values())}")
    print(f"[lightning_iter] comparison: {(out / 'compare.md').resolve()}")
