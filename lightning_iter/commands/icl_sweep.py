"""`lightning_iter icl_sweep`: reasoning-primitive accuracy against the number of in-context examples (JSON + PNG).

lightning_iter icl_sweep --ckpt_path last.ckpt --tasks assign_basic,copy_random --n_items 100 --out runs/icl
"""

from __future__ import annotations

from pathlib import Path

from jsonargparse import ArgumentParser

from ..eval.protocol import DEFAULT_ITEMS
from ._common import add_model_arguments, load_from_arguments, parse_list


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="lightning_iter icl_sweep", description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    parser.add_argument("--tasks", type=str, default="all", help="comma-separated primitives or 'all'")
    parser.add_argument("--depths", type=str, default="all", help="variable-assignment depths, e.g. 1,2 ('all')")
    parser.add_argument(
        "--shots",
        type=str,
        default="auto",
        help="comma-separated shot counts, or 'auto': 0,1,2,4,... up to the context limit",
    )
    parser.add_argument("--n_items", type=int, default=DEFAULT_ITEMS, help="test items per task, depth and shot count")
    parser.add_argument("--batch_size", type=int, default=32, help="(prompt, choice) rows per forward pass")
    parser.add_argument("--seed", type=int, default=0, help="test-set seed")
    parser.add_argument(
        "--scoring",
        type=str,
        default="lm_eval",
        help="'lm_eval' (' ' + choice, as lm-evaluation-harness and the papers) or 'eos' (choice + EOS)",
    )
    parser.add_argument("--out", type=str, default="runs/icl_sweep", help="output folder for icl_sweep.json/.png")
    parser.add_argument("--progress", type=bool, default=True, help="show a progress bar")
    return parser


def main(argv: list[str]) -> None:
    cfg = build_parser().parse_args(argv)
    from ..eval import report
    from ..eval.icl_sweep import icl_sweep

    loaded = load_from_arguments(cfg)
    shots = None if cfg.shots.strip().lower() == "auto" else parse_list(cfg.shots, "shots", int)
    result = icl_sweep(
        loaded.model,
        loaded.tokenizer,
        parse_list(cfg.tasks, "tasks"),
        parse_list(cfg.depths, "depths", int),
        shots,
        n_items=cfg.n_items,
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        progress=cfg.progress,
        scoring=cfg.scoring,
    )
    result.update(ckpt_path=cfg.ckpt_path, repeat=cfg.repeat, plan=list(loaded.model.plan))
    out = Path(cfg.out)
    json_path = report.write_json(out / "icl_sweep.json", result)
    from ..run_label import checkpoint_label

    png_path = report.line_chart(
        result["curves"],
        out / "icl_sweep.png",
        f"In-context learning: {checkpoint_label(cfg.ckpt_path, loaded.info.get('global_step'), cfg.repeat)} "
        f"({cfg.scoring} scoring)",
        "in-context examples (shots)",
        chance=result["chance"],
        n_items=cfg.n_items,
    )
    print("| task@depth | context limit (shots) | " + " | ".join(["accuracy % by shots"]) + " |\n|---|---:|---|")
    for name, points in result["curves"].items():
        print(f"| {name} | {result['limit'][name]} | " + ", ".join(f"{k}: {100 * a:.1f}" for k, a in points) + " |")
    print(f"\nscoring {cfg.scoring}; {cfg.n_items} items per point (seed {cfg.seed})")
    print(f"[lightning_iter] icl sweep: {json_path}, {png_path}")
