"""`lightning_iter report`: several checkpoints' eval results as the seeds' tables (markdown) and Fig. 4 (PNG).

lightning_iter report runs/eval/base/results.json runs/eval/lidas/results.json runs/lm_eval/**/results_*.json \
    --out runs/report
"""

from __future__ import annotations

from jsonargparse import ArgumentParser

from ._common import split_list


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="lightning_iter report", description=__doc__.splitlines()[0])
    parser.add_argument(
        "results",
        type=str,
        nargs="+",
        help="result files: `lightning_iter eval` results.json and/or lm-eval results_*.json of the suite; files "
        "naming the same checkpoint (and --repeat) make one row",
    )
    parser.add_argument("--labels", type=str | None, default=None, help="comma-separated row labels, one per model")
    parser.add_argument(
        "--category",
        type=str,
        default="reasoning_primitives",
        help="the category on the figure's y axis (seed 000 Fig. 4: reasoning_primitives)",
    )
    parser.add_argument("--out", type=str, default="runs/report", help="folder for report.md, pareto.png, report.json")
    return parser


def main(argv: list[str]) -> None:
    cfg = build_parser().parse_args(argv)
    paths = list(cfg.results)  # nargs="+": the parser already asks for at least one
    labels = None if cfg.labels is None else split_list(cfg.labels)
    from ..eval.paper_report import build_report

    done = build_report(paths, cfg.out, labels, cfg.category)
    print(done["text"])
    print("[lightning_iter] report: " + ", ".join(str(p) for p in done["written"].values()))
