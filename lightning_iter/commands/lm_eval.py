"""`lightning_iter lm_eval ...`: lm-eval's command line with the `lightning_iter` model type and primitive tasks.

    lightning_iter lm_eval --model lightning_iter --model_args ckpt_path=last.ckpt,repeat=2:4x1 \
        --tasks reasoning_primitives --limit 100

Arguments are lm-eval's own (`lm_eval run --help`); the package's task folder is added as `--include_path`
unless one is given. lm-eval 0.4 looks models up in a registry without plugin entry points, so plain
`lm_eval --model lightning_iter` cannot see the model unless `lightning_iter.eval.lm_eval` is imported.
Results go to `runs/lm_eval/<run>/results_<date>.json` (<run>: the checkpoint's run, as figure titles name
it) unless `--output_path` is given; the file written is printed at the end.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

from ..errors import ConfigError

SUBCOMMANDS = ("run", "ls", "validate")
OUTPUT_ROOT = Path("runs") / "lm_eval"
MODEL_FILE = Path(__file__).resolve().parents[1] / "eval" / "lm_eval.py"


def harness_argv(argv: list[str], tasks_dir: str) -> list[str]:
    """lm-eval's argv (program name first) with our task folder as `--include_path` when none is given."""
    args = list(argv)
    if args and args[0] not in SUBCOMMANDS and not args[0].startswith("-"):
        return ["lm-eval", *args]
    if args and args[0] in ("-h", "--help"):
        return ["lm-eval", *args]
    if not any(a == "--include_path" or a.startswith("--include_path=") for a in args):
        args += ["--include_path", tasks_dir]
    if not args or args[0] not in SUBCOMMANDS:
        args = ["run", *args]
    return ["lm-eval", *args]


def model_args(argv: list[str]) -> dict[str, str]:
    """The `--model_args` given (`k=v,k=v`, space-separated `k=v k=v`, or a JSON object) as a dict."""
    values: list[str] = []
    for i, arg in enumerate(argv):
        if arg.startswith("--model_args="):
            values = [arg.partition("=")[2]]
        elif arg == "--model_args":
            values = []
            for token in argv[i + 1 :]:
                if token.startswith("-"):
                    break
                values.append(token)
    text = " ".join(values).strip()
    if text.startswith("{"):
        return {str(k): str(v) for k, v in json.loads(text).items()}
    pairs = [p for chunk in text.split() for p in chunk.split(",") if "=" in p]
    return dict(p.split("=", 1) for p in pairs)


def run_folder(args: dict[str, str]) -> Path:
    """`runs/lm_eval/<run>`: the checkpoint's label (its run and step; `--repeat` appended), as a folder name."""
    from ..run_label import checkpoint_label

    ckpt = args.get("ckpt_path")
    label = checkpoint_label(ckpt, repeat=args.get("repeat")) if ckpt else args.get("pretrained", "model")
    return OUTPUT_ROOT / (re.sub(r"[^\w.]+", "-", label).strip("-") or "model")


def with_output_path(argv: list[str]) -> tuple[list[str], Path | None]:
    """`argv` with `--output_path runs/lm_eval/<run>/results.json` unless it names one; the folder results go to."""
    for i, arg in enumerate(argv):
        if arg in ("--output_path", "-o") and i + 1 < len(argv):
            return argv, Path(argv[i + 1])
        if arg.startswith("--output_path="):
            return argv, Path(arg.partition("=")[2])
    if argv and argv[0] in ("ls", "validate"):
        return argv, None
    folder = run_folder(model_args(argv))
    return [*argv, "--output_path", str(folder / "results.json")], folder  # lm-eval: results_<date>.json there


def model_help() -> str:
    """The `lightning_iter` model's `--model_args`, read from its source (no torch import for `--help`)."""
    from ._catalog import class_doc, class_parameters, format_parameter

    params = [p for p in class_parameters(MODEL_FILE, "LightningIterLM") if p.name != "loaded"]
    lines = [
        "lightning_iter lm_eval: lm-eval's `run` with the `lightning_iter` model type and the primitive tasks.",
        "",
        "--model lightning_iter --model_args KEY=VALUE,...  with KEY among:",
        *(f"  {format_parameter(p)}" for p in params),
        "",
        class_doc(MODEL_FILE, "LightningIterLM").strip(),
        "",
        f"Results: {OUTPUT_ROOT}/<run>/results_<date>.json unless --output_path is given (the file is printed).",
        "Tasks: reasoning_primitives, reasoning_primitives_deep (5-shot prompts) and the suite (docs/evaluation.md).",
        "",
        "lm-eval's own options follow.",
        "",
    ]
    return "\n".join(lines)


def newest_results(folder: Path, since: float) -> Path | None:
    """The `results_*.json` lm-eval wrote under `folder` after `since` (it may add a model-name subfolder)."""
    found = [p for p in folder.rglob("results_*.json") if p.stat().st_mtime >= since] if folder.is_dir() else []
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def main(argv: list[str]) -> None:
    argv = list(argv)
    if not argv or argv[0] in ("-h", "--help") or argv[:2] in (["run", "-h"], ["run", "--help"]):
        print(model_help())
        from lm_eval.__main__ import cli_evaluate  # lm-eval's parser: no torch

        saved = sys.argv
        sys.argv = ["lm-eval", "run", "--help"]
        try:
            cli_evaluate()
        except SystemExit as stop:  # argparse's --help exits 0: this command returns normally
            if stop.code not in (0, None):
                raise
        finally:
            sys.argv = saved
        return
    try:
        from lm_eval.__main__ import cli_evaluate

        from ..eval.lm_eval import LM_EVAL_TASKS_DIR
    except ImportError as err:
        raise ConfigError(f"lm-eval is not installed ({err}): pip install 'lightning-iter[eval]'") from None
    from ..eval.suite import check_harness_argv

    check_harness_argv(argv)  # the suite's missing datasets, all in one line, before any model is built
    argv, folder = with_output_path(argv)
    saved, started = sys.argv, time.time()
    sys.argv = harness_argv(argv, str(LM_EVAL_TASKS_DIR))
    try:
        cli_evaluate()
    finally:
        sys.argv = saved
    written = None if folder is None else newest_results(folder if folder.suffix != ".json" else folder.parent, started)
    if written is not None:
        print(f"[lightning_iter] lm_eval results: {written.resolve()}")
