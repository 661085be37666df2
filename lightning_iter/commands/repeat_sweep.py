"""`lightning_iter repeat_sweep`: held-out NLL / reasoning-primitive accuracy for r = 0..R extra passes of a block."""

from __future__ import annotations

from itertools import islice

from jsonargparse import ArgumentParser

from ..errors import ConfigError, check_choice
from ..eval.protocol import DEFAULT_ITEMS
from ._common import add_model_arguments, int_list, load_from_arguments, str_list
from ._inputs import add_heldout_data_argument, file_nll_batches, no_data_module_hint

METRICS = ("nll", "primitives")


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="lightning_iter repeat_sweep", description=__doc__)
    add_model_arguments(parser)
    parser.add_argument("--block", type=str, required=True, help="plan positions START:END to repeat, e.g. 8:12")
    parser.add_argument("--max_extra", type=int, default=4, help="sweep r = 0..max_extra extra passes")
    parser.add_argument(
        "--metrics", type=str_list, default=["nll", "primitives"], help="nll and/or primitives: nll,primitives"
    )
    parser.add_argument("--nll_batches", type=int, default=8, help="held-out batches of the run's own validation split")
    add_heldout_data_argument(parser, "--nll_data", "the nll metric")
    parser.add_argument(
        "--tasks", type=str_list, default=None, help="primitive tasks, e.g. copy_random,assign_basic (all)"
    )
    parser.add_argument("--depths", type=int_list, default=None, help="assignment depths, e.g. 0,1 (default: all)")
    parser.add_argument("--n_items", type=int, default=DEFAULT_ITEMS, help="test items per task@depth")
    parser.add_argument("--shots", type=int, default=5, help="solved examples before each query")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--scoring",
        type=str,
        default="lm_eval",
        help="'lm_eval' (' ' + choice, as lm-evaluation-harness and the papers) or 'eos' (choice + EOS)",
    )
    parser.add_argument("--out", type=str, default="runs/repeat_sweep", help="output folder (JSON + PNG)")
    return parser


def parse_block(text: str) -> tuple[int, int]:
    try:
        start, end = (int(x) for x in str(text).split(":"))
    except ValueError:
        raise ConfigError(
            f"--block={text!r} is not allowed: write START:END, e.g. 8:12 (plan positions 8-11)"
        ) from None
    return start, end


def main(argv: list[str]) -> None:
    """Load the checkpoint, sweep the extra passes, write JSON + PNG and print a table."""
    cfg = build_parser().parse_args(argv)
    from ..eval.repeat_sweep import nll_measure, primitives_measure, repeat_sweep, write_sweep

    unknown = [m for m in cfg.metrics if m not in METRICS]
    if unknown or not cfg.metrics:
        raise ConfigError(f"--metrics={cfg.metrics} is not allowed: choose from {', '.join(METRICS)}")
    start, end = parse_block(cfg.block)
    if cfg.nll_data is not None and "nll" not in cfg.metrics:
        raise ConfigError(f"--nll_data={cfg.nll_data} is only read with the nll metric (--metrics {cfg.metrics})")
    from ..eval.primitives import SCORING

    check_choice("--scoring", cfg.scoring, SCORING)
    loaded = load_from_arguments(cfg)
    measures = []
    if "nll" in cfg.metrics and cfg.nll_data is not None:  # any checkpoint, hf:DIR included
        measures.append(nll_measure(file_nll_batches(loaded, cfg.nll_data, cfg.nll_batches), device=cfg.device))
    elif "nll" in cfg.metrics:
        data = no_data_module_hint(loaded, "--nll_data")
        data.setup("validate")
        measures.append(nll_measure(islice(data.val_dataloader(), cfg.nll_batches), device=cfg.device))
    if "primitives" in cfg.metrics:
        measures.append(
            primitives_measure(
                loaded.tokenizer,
                tasks=cfg.tasks,
                depths=cfg.depths,
                n_items=cfg.n_items,
                shots=cfg.shots,
                batch_size=cfg.batch_size,
                seed=cfg.seed,
                scoring=cfg.scoring,
            )
        )
    result = repeat_sweep(loaded.model, start, end, cfg.max_extra, measures, seq_len=loaded.model.config.max_seq_len)
    result["ckpt_path"] = loaded.source
    from ..run_label import checkpoint_label

    label = checkpoint_label(loaded.source, loaded.info.get("global_step"))
    title = f"Block repetition of {label}: plan positions {start}..{end - 1}"
    if "primitives" in cfg.metrics:
        result["scoring"] = cfg.scoring
        title += f" ({cfg.scoring} scoring)"
    json_path, png_path = write_sweep(result, cfg.out, title=title)
    keys = [k for k in ("nll", "primitives_mean") if k in result["rows"][0]]
    print(
        "| extra passes | effective depth | "
        + " | ".join({"nll": "nll", "primitives_mean": "primitives_mean (%)"}[k] for k in keys)
        + " |"
    )
    print("|---:|---:|" + "---:|" * sum(k in result["rows"][0] for k in ("nll", "primitives_mean")))
    for row in result["rows"]:
        values = " | ".join(f"{row[k]:.4f}" if k == "nll" else f"{100 * row[k]:.2f}" for k in keys)
        print(f"| {row['extra']} | {row['depth']} | {values} |")
    if "primitives" in cfg.metrics:
        print(f"primitives: {cfg.scoring} scoring")
    print(f"[lightning_iter] wrote {json_path} and {png_path}")
