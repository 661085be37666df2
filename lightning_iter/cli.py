"""`lightning_iter` command line: a thin dispatcher; `lightning_iter <verb>` runs `commands/<verb>.py`.

`fit`/`validate` go to LightningCLI (`commands.fit`); the other commands are plain jsonargparse
functions (DESIGN.md §6, CLI): LightningCLI subcommands must be Trainer methods and always build a
model and a Trainer, which commands such as `strategies` do not need.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

VERBS = (
    "fit",
    "validate",
    "strategies",
    "bench",
    "generate",
    "eval",
    "analyze",
    "tokenizer",
    "prepare",
    "export",
    "consolidate",
    "lm_eval",
    "icl_sweep",
    "sft_sweep",
    "repeat_sweep",
    "report",
)


def _lazy(verb: str) -> Callable[[Sequence[str]], None]:
    """The command `lightning_iter <verb>`: `lightning_iter.commands.<verb>.main`, imported only when it runs."""

    def run(argv: Sequence[str]) -> None:
        import importlib

        importlib.import_module(f"lightning_iter.commands.{verb}").main(list(argv))

    return run


COMMANDS: dict[str, Callable[[Sequence[str]], None]] = {verb: _lazy(verb) for verb in VERBS}
REMOVED = {
    "test": "there is no test split (the data modules hold out one validation split): `lightning_iter validate` "
    "gives its loss, `lightning_iter eval --heldout true` too (docs/cli.md)",
}

USAGE = """usage: lightning_iter <command> [options]

commands:
  fit         train a model (LightningCLI): lightning_iter fit --config configs/quickstart.yaml
  validate    held-out loss of a checkpoint: lightning_iter validate --config ... --ckpt_path ...
  generate    text from a checkpoint with a KV cache (greedy or sampling; --repeat for block repetition)
  eval        reasoning primitives / held-out loss of a checkpoint: JSON, markdown table, bar chart
  analyze     depth analyses (depth score, tuned lens, interventions, ...) of a checkpoint
  tokenizer   train a byte-level BPE tokenizer on your files (tokenizer train ...)
  prepare     tokenize local text/JSONL/Parquet files into litdata chunks
  export      write a checkpoint as a Hugging Face Llama directory
  consolidate  write a distributed (FSDP2) checkpoint directory as one checkpoint file: consolidate DIR --out F
  lm_eval     lm-evaluation-harness with the lightning_iter model type (needs the `eval` extra)
  icl_sweep   reasoning-primitive accuracy against the number of in-context examples (JSON + PNG)
  sft_sweep   fine-tune on N variable-assignment examples, evaluate after each N (JSON + PNG)
  repeat_sweep  metric vs extra passes of a block (inference scaling): JSON + PNG
  report      several checkpoints' results as the seeds' tables (markdown) and Pareto figure (PNG)
  strategies  list the registered depth strategies with their parameters, defaults and doc
  bench       list the benchmarks, or run one: lightning_iter bench <name> [options] (results: ./runs/bench/<name>/)

`lightning_iter <command> --help` shows a command's options; list flags take a,b (docs/cli.md).
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `lightning_iter` console script; returns the exit status."""
    from .errors import find_input_error

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    command, rest = args[0].replace("-", "_"), args[1:]  # `repeat-sweep` and `repeat_sweep` both work
    try:
        if command in COMMANDS:
            COMMANDS[command](rest)
        elif command in REMOVED:
            print(f"lightning_iter: error: `{command}` is not a command: {REMOVED[command]}", file=sys.stderr)
            return 2
        else:
            known = ", ".join(COMMANDS)
            print(f"lightning_iter: error: unknown command {command!r}; known commands: {known}", file=sys.stderr)
            return 2
    except Exception as err:  # noqa: BLE001 - only our input errors (found inside wrappers) become one line
        found = find_input_error(err)
        if found is None:
            raise
        _end_progress_bars()  # a bar left open (e.g. litdata's, when its worker failed) would share our line
        print(f"lightning_iter: error: {found}", file=sys.stderr)
        return 2
    return 0


def _end_progress_bars() -> None:
    """Close the tqdm bars still open, so that they end their line before the error line starts."""
    tqdm = sys.modules.get("tqdm")
    for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", ())):
        bar.close()


if __name__ == "__main__":
    sys.exit(main())
