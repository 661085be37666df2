"""`lightning_iter` command line: `fit`/`validate`/`test` go to LightningCLI, other commands are plain functions.

A thin dispatcher (DESIGN.md §6, CLI): LightningCLI subcommands must be Trainer methods and always
build a model and a Trainer, which commands such as `strategies` do not need.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

LIGHTNING_COMMANDS = ("fit", "validate", "test")


def _default_precision() -> str:
    """bf16 autocast where the accelerator supports it, full fp32 elsewhere."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


_SPECIAL_CKPT_PATHS = ("last", "best", "hpc", "registry")


def _check_ckpt_path(argv: Sequence[str]) -> None:
    """Fail before any model is built when `--ckpt_path` names a file that does not exist."""
    from .errors import CheckpointError

    for i, arg in enumerate(argv):
        value = None
        if arg == "--ckpt_path" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--ckpt_path="):
            value = arg.split("=", 1)[1]
        if value and value not in _SPECIAL_CKPT_PATHS and "://" not in value and not Path(value).is_file():
            raise CheckpointError(
                f"--ckpt_path={value} does not exist: give a checkpoint file written by `lightning_iter fit` "
                f"(or one of {', '.join(_SPECIAL_CKPT_PATHS)})"
            )


def _lightning_cli(argv: Sequence[str]) -> None:
    import lightning as L
    from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

    from .module import LanguageModel

    class LightningIterCLI(LightningCLI):
        def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
            parser.set_defaults({"trainer.gradient_clip_val": 1.0, "trainer.precision": _default_precision()})
            parser.link_arguments(
                "data", "model.vocab_size", compute_fn=lambda data: getattr(data, "vocab_size", None),
                apply_on="instantiate",
            )

        def after_fit(self) -> None:
            trainer = self.trainer
            if not trainer.is_global_zero:
                return
            lm = self.model
            callback = trainer.checkpoint_callback
            ckpt = getattr(callback, "last_model_path", "") or getattr(callback, "best_model_path", "")
            print(f"\n[lightning_iter] finished at step {trainer.global_step}: {lm.model.n_unique} unique layers, "
                  f"effective depth {lm.model.depth}, {lm.model.num_parameters():,} parameters")
            if ckpt:
                print(f"[lightning_iter] checkpoint: {Path(ckpt).resolve()}")
            if trainer.logger is not None and trainer.logger.log_dir:
                print(f"[lightning_iter] logs: {Path(trainer.logger.log_dir).resolve()}  "
                      f"(tensorboard --logdir {Path(trainer.logger.log_dir).parent.resolve()})")

    LightningIterCLI(
        LanguageModel,
        L.LightningDataModule,
        subclass_mode_data=True,
        args=list(argv),
        save_config_kwargs={"overwrite": True},
        auto_configure_optimizers=False,
    )


def _strategies(argv: Sequence[str]) -> None:
    """List the registered depth strategies (built-in and installed plugins)."""
    from jsonargparse import ArgumentParser

    ArgumentParser(prog="lightning_iter strategies", description=_strategies.__doc__).parse_args(list(argv))
    from .depth import list_strategies, strategy_class

    for name in list_strategies():
        cls = strategy_class(name)
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        print(f"{name:12s} {cls.__module__}.{cls.__qualname__}  {doc}")


BENCHMARKS_DIR = Path(__file__).resolve().parents[1] / "benchmarks"


def _bench(argv: Sequence[str]) -> None:
    """Run a benchmark script of the repository: `lightning_iter bench kernels|growth_cost [options]`."""
    import runpy

    from .errors import ConfigError

    available = sorted(p.stem for p in BENCHMARKS_DIR.glob("*.py") if not p.stem.startswith("_"))
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: lightning_iter bench {{{','.join(available)}}} [options]")
        return
    name = argv[0].replace("-", "_")
    if name not in available:
        listing = ", ".join(available) or "(none: the benchmarks/ folder ships with the repository; use an editable install)"
        raise ConfigError(f"benchmark {argv[0]!r} is unknown: available are {listing}")
    saved = sys.argv
    sys.argv = [str(BENCHMARKS_DIR / f"{name}.py"), *argv[1:]]
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    finally:
        sys.argv = saved


def _lazy(module: str) -> Callable[[Sequence[str]], None]:
    """A command implemented by `lightning_iter.commands.<module>.main`, imported only when it runs."""

    def run(argv: Sequence[str]) -> None:
        import importlib

        importlib.import_module(f"lightning_iter.commands.{module}").main(list(argv))

    return run


COMMANDS: dict[str, Callable[[Sequence[str]], None]] = {
    "strategies": _strategies,
    "bench": _bench,
    "generate": _lazy("generate"),
    "eval": _lazy("eval"),
    "analyze": _lazy("analyze"),
    "tokenizer": _lazy("tokenizer"),
    "prepare": _lazy("prepare"),
    "export": _lazy("export"),
    "lm_eval": _lazy("lm_eval_harness"),
    "icl_sweep": _lazy("icl_sweep"),
    "sft_sweep": _lazy("sft_sweep"),
    "repeat_sweep": _lazy("repeat_sweep"),
}

USAGE = """usage: lightning_iter <command> [options]

commands:
  fit         train a model (LightningCLI): lightning_iter fit --config configs/quickstart.yaml
  validate    held-out loss of a checkpoint: lightning_iter validate --config ... --ckpt_path ...
  test        LightningCLI test loop
  generate    text from a checkpoint with a KV cache (greedy or sampling; --repeat for block repetition)
  eval        reasoning primitives / held-out loss of a checkpoint: JSON, markdown table, bar chart
  analyze     depth analyses (depth score, tuned lens, interventions, ...) of a checkpoint
  tokenizer   train a byte-level BPE tokenizer on your files (tokenizer train ...)
  prepare     tokenize local text/JSONL/Parquet files into litdata chunks
  export      write a checkpoint as a Hugging Face Llama directory
  lm_eval     lm-evaluation-harness with the lightning_iter model type (needs the `eval` extra)
  icl_sweep   reasoning-primitive accuracy against the number of in-context examples (JSON + PNG)
  sft_sweep   fine-tune on N variable-assignment examples, evaluate after each N (JSON + PNG)
  repeat_sweep  metric vs extra passes of a block (inference scaling): JSON + PNG
  strategies  list the registered depth strategies
  bench       run a benchmark: lightning_iter bench <name> [options]

`lightning_iter <command> --help` shows a command's options.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `lightning_iter` console script; returns the exit status."""
    from .errors import LightningIterError

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    command, rest = args[0].replace("-", "_"), args[1:]  # `repeat-sweep` and `repeat_sweep` both work
    try:
        if command in LIGHTNING_COMMANDS:
            _check_ckpt_path(rest)
            _lightning_cli([command, *rest])
        elif command in COMMANDS:
            COMMANDS[command](rest)
        else:
            known = ", ".join([*LIGHTNING_COMMANDS, *COMMANDS])
            print(f"lightning_iter: error: unknown command {command!r}; known commands: {known}", file=sys.stderr)
            return 2
    except LightningIterError as err:
        print(f"lightning_iter: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
