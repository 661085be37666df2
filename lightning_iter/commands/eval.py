"""`lightning_iter eval`: reasoning-primitive accuracy and held-out NLL of a checkpoint (JSON, markdown, PNG).

lightning_iter eval --ckpt_path runs/.../last.ckpt --tasks all --n_items 200 --heldout true --out runs/eval
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jsonargparse import ArgumentParser

from ..atomic import write_text_atomic
from ..errors import ConfigError, check_int
from ._common import add_model_arguments, load_from_arguments


def parse_list(text: str | None, field: str, convert: type = str) -> list[Any] | None:
    """`a,b,c` -> list; `all` or empty -> None (every value); `none` -> []."""
    if text is None or text.strip().lower() in ("", "all"):
        return None
    if text.strip().lower() == "none":
        return []
    try:
        return [convert(part.strip()) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"--{field}={text!r} is not a comma-separated list of {convert.__name__}") from None


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
    parser.add_argument("--n_items", type=int, default=1000, help="test items per task and depth")
    parser.add_argument("--shots", type=int, default=5, help="solved examples before each query")
    parser.add_argument("--batch_size", type=int, default=32, help="(prompt, choice) rows per forward pass")
    parser.add_argument("--seed", type=int, default=0, help="test-set seed (a fixed, held-out rng namespace)")
    parser.add_argument(
        "--end_of_text",
        type=bool,
        default=True,
        help="score each choice followed by EOS, as solved queries end in training",
    )
    parser.add_argument(
        "--heldout",
        type=bool,
        default=False,
        help="also report NLL on the run's own validation split (from the checkpoint's data module)",
    )
    parser.add_argument("--heldout_batches", type=int | None, default=None, help="limit the held-out batches")
    parser.add_argument("--label", type=str | None, default=None, help="row label in the table (default: checkpoint)")
    parser.add_argument("--out", type=str, default="runs/eval", help="output folder for results.json, .md and .png")
    parser.add_argument("--progress", type=bool, default=True, help="show progress bars")
    return parser


def heldout_from_checkpoint(loaded: Any, max_batches: int | None = None, device: str = "cpu") -> dict[str, float]:
    """NLL of the loaded model on the validation split of the data module its checkpoint records."""
    from itertools import islice

    from ..eval.nll import heldout_nll

    datamodule = loaded.build_datamodule()
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
    if tasks == [] and not cfg.heldout:
        raise ConfigError("--tasks=none with --heldout=false leaves nothing to evaluate")
    loaded = load_from_arguments(cfg)
    label = cfg.label or Path(cfg.ckpt_path).stem + (f" --repeat {cfg.repeat}" if cfg.repeat else "")
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
        result["heldout"] = heldout_from_checkpoint(loaded, cfg.heldout_batches, cfg.device)
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
            end_of_text=cfg.end_of_text,
        )
        result["primitives"] = primitives
        nll = {label: result["heldout"]["loss"]} if cfg.heldout else None
        table = report.markdown_table({label: primitives["accuracy"]}, nll)
        detail = report.depth_table(primitives["accuracy"], primitives["chance"])
        note = (
            f"{cfg.shots}-shot multiple choice, {cfg.n_items} items per task and depth (seed {cfg.seed}); "
            f"task columns average the depths evaluated."
        )
        written.append(write_text_atomic(out / "primitives.md", f"{table}\n\n{detail}\n\n{note}\n"))
        written.append(
            report.bar_chart(
                primitives["accuracy"],
                primitives["chance"],
                out / "primitives.png",
                f"Reasoning primitives: {label}",
                primitives["mean"],
            )
        )
        print(table, detail, note, sep="\n\n")
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
