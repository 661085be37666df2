"""`lightning_iter analyze`: depth analyses of a checkpoint (any plan), written as JSON + PNG and an index page."""

from __future__ import annotations

import time
from pathlib import Path

from jsonargparse import ArgumentParser

from ..analysis import AnalysisOptions, Context, parse_analyses, run_analyses
from ..analysis.inputs import heldout_tokens
from ._common import add_model_arguments, load_from_arguments


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="lightning_iter analyze", description=__doc__)
    add_model_arguments(parser)
    parser.add_argument(
        "--analyses",
        type=str,
        default="all",
        help="'all' or a comma-separated subset of depth_score, tuned_lens, interventions, "
        "future_effects, contributions, similarity",
    )
    parser.add_argument("--out", type=str, required=True, help="folder for the JSON, PNG and index.md outputs")
    parser.add_argument("--n_examples", type=int, default=8, help="held-out sequences of the run's data")
    parser.add_argument("--seq_len", type=int, default=128, help="tokens per held-out sequence (cropped)")
    defaults = AnalysisOptions()
    parser.add_argument("--batch_size", type=int, default=defaults.batch_size)
    parser.add_argument(
        "--boundaries",
        type=list[int] | None,
        default=None,
        help="future-setting boundary positions t, e.g. [32,64,96] (default: --n_boundaries spread evenly)",
    )
    parser.add_argument("--n_boundaries", type=int, default=defaults.n_boundaries)
    parser.add_argument("--sizes", type=list[int], default=list(defaults.sizes), help="intervention block sizes")
    parser.add_argument(
        "--operations",
        type=list[str],
        default=list(defaults.operations),
        help="interventions among skip, swap, reverse, repeat",
    )
    parser.add_argument(
        "--repeat_extra",
        type=int,
        default=defaults.repeat_extra,
        help="extra passes of the block in the 'repeat' intervention",
    )
    parser.add_argument("--lens_steps", type=int, default=defaults.lens_steps, help="tuned-lens Adam steps")
    parser.add_argument("--lens_lr", type=float, default=defaults.lens_lr)
    parser.add_argument("--lens_batch_tokens", type=int, default=defaults.lens_batch_tokens)
    parser.add_argument(
        "--tuned_lens_path",
        type=str | None,
        default=None,
        help="reuse translators (tuned_lens.safetensors of an earlier run) instead of training",
    )
    parser.add_argument("--task", type=str, default=defaults.task, help="reasoning primitive for accuracies")
    parser.add_argument("--task_depth", type=int, default=defaults.task_depth)
    parser.add_argument("--shots", type=int, default=defaults.shots)
    parser.add_argument("--n_items", type=int, default=defaults.n_items, help="items for early-exit accuracy (0: off)")
    parser.add_argument(
        "--intervention_items",
        type=int,
        default=defaults.intervention_items,
        help="items scored under every intervention plan (0: held-out loss only)",
    )
    parser.add_argument(
        "--block_size",
        type=int | None,
        default=None,
        help="weight-similarity block size (default: the checkpoint's growth block size, else 1)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--progress", type=bool, default=True, help="show progress bars")
    return parser


def main(argv: list[str]) -> None:
    cfg = build_parser().parse_args(argv)
    names = parse_analyses(cfg.analyses)
    started = time.perf_counter()
    loaded = load_from_arguments(cfg)
    tokens = heldout_tokens(loaded, cfg.n_examples, cfg.seq_len)
    options = AnalysisOptions(**{k: cfg[k] for k in AnalysisOptions.__dataclass_fields__})
    info = {
        "source": loaded.source,
        "global_step": loaded.info.get("global_step"),
        "depth": loaded.info.get("depth"),
        "repeat": cfg.repeat,
    }
    out = Path(cfg.out)
    summary = run_analyses(Context(loaded.model, loaded.tokenizer, tokens, out, options, info), names)
    print(
        f"[lightning_iter] analyses {', '.join(names)} done in {time.perf_counter() - started:.1f} s "
        f"({', '.join(f'{k} {v} s' for k, v in summary['seconds'].items())})"
    )
    print(f"[lightning_iter] outputs: {out.resolve()}  (index: {(out / 'index.md').resolve()})")
