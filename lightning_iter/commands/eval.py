"""`lightning_iter eval`: reasoning-primitive accuracy and held-out NLL of a checkpoint (JSON, markdown, PNG).

lightning_iter eval --ckpt_path runs/.../last.ckpt --tasks all --n_items 200 --heldout true --out runs/eval
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jsonargparse import ArgumentParser

from ..atomic import write_text_atomic
from ..errors import ConfigError, check_choice, check_int
from ..eval.protocol import DEFAULT_ITEMS
from ._common import add_model_arguments, load_from_arguments, parse_list
from ._inputs import add_heldout_data_argument, file_nll_batches, no_data_module_hint


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="lightning_iter eval", description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    parser.add_argument(
        "--tasks",
        type=str,
        default="all",
        help="comma-separated primitives (copy_random, copy_real, assign_basic, assign_math, "
        "assign_code), 'all', or 'none' to skip them",
    )
    parser.add_argument("--depths", type=str, default="all", help="variable-assignment depths, e.g. 0,1,2 ('all')")
    parser.add_argument("--n_items", type=int, default=DEFAULT_ITEMS, help="test items per task and depth")
    parser.add_argument("--shots", type=int, default=5, help="solved examples before each query")
    parser.add_argument("--batch_size", type=int, default=32, help="(prompt, choice) rows per forward pass")
    parser.add_argument("--seed", type=int, default=0, help="test-set seed (a fixed, held-out rng namespace)")
    parser.add_argument(
        "--scoring",
        type=str,
        default="lm_eval",
        help="'lm_eval': log-likelihood of ' ' + choice, as lm-evaluation-harness and the papers; "
        "'eos': choice followed by EOS, as solved queries end in training (named in every output)",
    )
    parser.add_argument(
        "--aggregate",
        type=str,
        default="depth0",
        help="task columns and Mean: 'depth0' (the papers' five depth-0 tasks) or 'all_depths' (each task's mean "
        "over the depths evaluated)",
    )
    parser.add_argument(
        "--share_prompts",
        type=bool,
        default=True,
        help="score each prompt once for all its choices (KV cache); false: one full row per choice",
    )
    parser.add_argument(
        "--heldout",
        type=bool,
        default=False,
        help="also report NLL on the run's own validation split (from the checkpoint's data module)",
    )
    parser.add_argument("--heldout_batches", type=int | None, default=None, help="limit the held-out batches")
    add_heldout_data_argument(parser, "--heldout_data", "--heldout NLL")
    parser.add_argument("--label", type=str | None, default=None, help="row label in the table (default: checkpoint)")
    parser.add_argument("--out", type=str, default="runs/eval", help="output folder for results.json, .md and .png")
    parser.add_argument("--progress", type=bool, default=True, help="show progress bars")
    return parser


def heldout_from_checkpoint(
    loaded: Any, max_batches: int | None = None, device: str = "cpu", data: str | None = None
) -> dict[str, float]:
    """NLL of the loaded model on the validation split of the data module its checkpoint records."""
    from itertools import islice

    from ..eval.nll import heldout_nll

    if data is not None:  # held-out documents from a file: any checkpoint, hf:DIR included
        return heldout_nll(loaded.model, file_nll_batches(loaded, data, max_batches), device=device)
    datamodule = no_data_module_hint(loaded, "--heldout_data")
    if hasattr(datamodule, "prepare_data"):
        datamodule.prepare_data()
    if hasattr(datamodule, "setup"):
        datamodule.setup("validate")
    batches = datamodule.val_dataloader()
    if max_batches is not None:
        batches = islice(batches, max_batches)
    return heldout_nll(loaded.model, batches, device=device)


def main(argv: list[str]) -> None:
    cfg = build_parser().parse_args(argv)
    tasks = parse_list(cfg.tasks, "tasks")
    depths = parse_list(cfg.depths, "depths", int)
    check_int("--n_items", cfg.n_items, 1)
    from ..eval.primitives import SCORING
    from ..eval.report import AGGREGATES

    check_choice("--scoring", cfg.scoring, SCORING)
    check_choice("--aggregate", cfg.aggregate, AGGREGATES)
    if cfg.heldout_data is not None and not cfg.heldout:
        raise ConfigError(f"--heldout_data={cfg.heldout_data} is only read with --heldout true")
    if tasks == [] and not cfg.heldout:
        raise ConfigError("--tasks=none with --heldout=false leaves nothing to evaluate")
    loaded = load_from_arguments(cfg)
    from ..run_label import checkpoint_label

    label = cfg.label or checkpoint_label(cfg.ckpt_path, loaded.info.get("global_step"), cfg.repeat)
    out = Path(cfg.out)
    result: dict[str, Any] = {
        "label": label,
        "ckpt_path": cfg.ckpt_path,
        "repeat": cfg.repeat,
        "plan": list(loaded.model.plan),
        "n_unique": loaded.model.n_unique,
        "depth": loaded.model.depth,
        "global_step": loaded.info.get("global_step"),
    }
    from ..eval import report

    if cfg.heldout:
        result["heldout"] = heldout_from_checkpoint(loaded, cfg.heldout_batches, cfg.device, cfg.heldout_data)
        result["heldout"]["data"] = cfg.heldout_data or "the checkpoint's data module (validation split)"
    written = []
    if tasks != []:
        from ..eval.primitives import evaluate_primitives

        primitives = evaluate_primitives(
            loaded.model,
            loaded.tokenizer,
            tasks=tasks,
            depths=depths,
            n_items=cfg.n_items,
            shots=cfg.shots,
            batch_size=cfg.batch_size,
            seed=cfg.seed,
            progress=cfg.progress,
            scoring=cfg.scoring,
            aggregate=cfg.aggregate,
            share_prompts=cfg.share_prompts,
        )
        result["primitives"] = primitives
        nll = {label: result["heldout"]["loss"]} if cfg.heldout else None
        tables = [report.markdown_table({label: primitives["accuracy"]}, nll, cfg.aggregate)]
        tables.append(report.deep_table({label: primitives["accuracy"]}))
        tables.append(report.depth_table(primitives["accuracy"], primitives["chance"]))
        note = report.caption(cfg.shots, cfg.n_items, cfg.seed, cfg.scoring, cfg.aggregate)
        text = "\n\n".join([t for t in tables if t] + [note])
        written.append(write_text_atomic(out / "primitives.md", text + "\n"))
        written.append(
            report.bar_chart(
                primitives["accuracy"],
                primitives["chance"],
                out / "primitives.png",
                f"Reasoning primitives, {cfg.shots}-shot: {label} ({cfg.scoring} scoring)",
                primitives["mean"],
                n_items=cfg.n_items,
            )
        )
        print(text)
        cut = {k: v for k, v in primitives["truncated"].items() if v > 0}
        if cut:
            print(
                f"\nnote: prompts longer than the model window ({loaded.model.config.max_seq_len} tokens) were cut "
                f"from the left: " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in cut.items())
            )
    if cfg.heldout:
        h = result["heldout"]
        print(f"\nheld-out NLL {h['loss']:.4f} (ppl {h['ppl']:.3f}) over {h['tokens']:,} tokens")
    written.insert(0, report.write_json(out / "results.json", result))
    print("\n[lightning_iter] eval results: " + ", ".join(str(p) for p in written))
