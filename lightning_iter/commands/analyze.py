"""`lightning_iter analyze`: depth analyses of a checkpoint (any plan), written as JSON + PNG and an index page."""

from __future__ import annotations

import time
from pathlib import Path

from jsonargparse import ArgumentParser, Namespace

from ..analysis.options import AnalysisOptions
from ..errors import ConfigError
from ._common import add_model_arguments, int_list, load_from_arguments, str_list
from ._compare import add_compare_arguments, run_comparison
from ._inputs import add_dataset_arguments, analysis_inputs
from ._lens import add_lens_arguments


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="lightning_iter analyze", description=__doc__)
    add_model_arguments(parser, ckpt_required=False)  # --compare names the checkpoints instead
    add_compare_arguments(parser)
    parser.add_argument(
        "--analyses",
        type=str,
        default="all",
        help="'all' or a comma-separated subset of depth_score, tuned_lens, interventions, "
        "future_effects, contributions, similarity",
    )
    parser.add_argument("--out", type=str, required=True, help="folder for the JSON, PNG and index.md outputs")
    parser.add_argument("--n_examples", type=int, default=8, help="token rows per dataset (or held-out sequences)")
    parser.add_argument("--seq_len", type=int, default=128, help="tokens per row (documents packed, or cropped)")
    defaults = AnalysisOptions()
    add_dataset_arguments(parser, defaults)
    parser.add_argument("--batch_size", type=int, default=defaults.batch_size)
    parser.add_argument(
        "--boundaries",
        type=int_list,
        default=None,
        help="future-setting boundary positions t, e.g. 32,64,96 (default: --n_boundaries spread evenly)",
    )
    parser.add_argument("--n_boundaries", type=int, default=defaults.n_boundaries)
    parser.add_argument("--sizes", type=int_list, default=list(defaults.sizes), help="intervention block sizes: 1,2")
    parser.add_argument(
        "--operations",
        type=str_list,
        default=list(defaults.operations),
        help="interventions among skip, swap, reverse, repeat, e.g. skip,swap",
    )
    parser.add_argument(
        "--repeat_extra",
        type=int,
        default=defaults.repeat_extra,
        help="extra passes of the block in the 'repeat' intervention",
    )
    add_lens_arguments(parser, defaults)
    parser.add_argument("--task", type=str, default=defaults.task, help="reasoning primitive for accuracies")
    parser.add_argument("--task_depth", type=int, default=defaults.task_depth)
    parser.add_argument("--shots", type=int, default=defaults.shots)
    parser.add_argument("--n_items", type=int, default=defaults.n_items, help="items for early-exit accuracy (0: off)")
    parser.add_argument(
        "--intervention_items",
        type=int,
        default=defaults.intervention_items,
        help="Lambada passages and primitive items scored under every intervention plan (0: loss only)",
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
    from ..analysis.analyze import parse_analyses  # torch: only once the arguments are parsed

    names = parse_analyses(cfg.analyses)
    if cfg.compare:
        if cfg.ckpt_path is not None:
            raise ConfigError(
                f"--ckpt_path={cfg.ckpt_path} and --compare are exclusive: list every checkpoint in --compare"
            )
        run_comparison(cfg, names, analyze_checkpoint)
        return
    if cfg.ckpt_path is None:
        raise ConfigError("--ckpt_path is required: give the checkpoint to analyse (or --compare CKPT CKPT ...)")
    analyze_checkpoint(cfg, names, Path(cfg.out))


def analyze_checkpoint(cfg: Namespace, names: list[str], out: Path) -> dict:
    """The analyses `names` of checkpoint `cfg.ckpt_path`, written to `out`; returns the summary."""
    from ..analysis.analyze import Context, inputs_lines, run_analyses

    started = time.perf_counter()
    loaded = load_from_arguments(cfg)
    options = AnalysisOptions(**{k: cfg[k] for k in AnalysisOptions.__dataclass_fields__})
    tokens, datasets = analysis_inputs(cfg, loaded, names, options)
    info = {
        "source": loaded.source,
        "global_step": loaded.info.get("global_step"),
        "depth": loaded.info.get("depth"),
        "repeat": cfg.repeat,
    }
    context = Context(loaded.model, loaded.tokenizer, tokens, out, options, info, datasets=datasets)
    summary = run_analyses(context, names)
    print(
        f"[lightning_iter] analyses {', '.join(names)} done in {time.perf_counter() - started:.1f} s "
        f"({', '.join(f'{k} {v} s' for k, v in summary['seconds'].items())})"
    )
    for line in inputs_lines(summary):  # which files (and which default) each analysis read
        print(f"[lightning_iter] {line[2:]}")
    print(f"[lightning_iter] outputs: {out.resolve()}  (index: {(out / 'index.md').resolve()})")
    return summary
