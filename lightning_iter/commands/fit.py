"""`lightning_iter fit` (and `validate`, `test`): LightningCLI over `LanguageModel` and any LightningDataModule.

lightning_iter fit --config configs/quickstart.yaml
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

SPECIAL_CKPT_PATHS = ("last", "auto", "best", "hpc", "registry")  # last/auto: ours (callbacks/checkpointing.py)
ARGS_WARNING = "LightningCLI's args parameter is intended"  # start of the warning it gives when sys.argv is set
# torch 2.x deprecation inside Lightning's own pytree helper: says nothing about the run
PYTREE_WARNING = r"`isinstance\(treespec, LeafSpec\)` is deprecated"


def default_precision() -> str:
    """bf16 autocast where the accelerator supports it, full fp32 elsewhere."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def check_ckpt_path(argv: Sequence[str]) -> None:
    """Fail before any model is built when `--ckpt_path` names a file that does not exist."""
    from ..distributed_checkpoint import is_distributed_checkpoint
    from ..errors import CheckpointError

    for i, arg in enumerate(argv):
        value = None
        if arg == "--ckpt_path" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--ckpt_path="):
            value = arg.split("=", 1)[1]
        if value and value not in SPECIAL_CKPT_PATHS and "://" not in value and not Path(value).is_file():
            if Path(value).is_dir() and is_distributed_checkpoint(value):
                continue  # a ModelParallelStrategy checkpoint directory (distributed_checkpoint.py checks the rest)
            what = "is a directory, not a file" if Path(value).is_dir() else "does not exist"
            raise CheckpointError(
                f"--ckpt_path={value} {what}: give a checkpoint file written by `lightning_iter fit` "
                f"(a distributed checkpoint directory, or one of {', '.join(SPECIAL_CKPT_PATHS)})"
            )


def run_lightning(subcommand: str, argv: Sequence[str]) -> None:
    """Run LightningCLI's `subcommand` (fit, validate or test) with our defaults and the end-of-fit summary."""
    import lightning as L
    from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

    from ..callbacks.checkpointing import announce
    from ..module import LanguageModel
    from ..run_dir import (
        check_fresh,
        choose_run_name,
        logger_lines,
        model_line,
        name_loggers,
        quiet_lightning,
        run_directory,
    )

    check_ckpt_path(argv)

    class LightningIterCLI(LightningCLI):
        def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
            parser.add_argument(
                "--run_name",
                type=str | None,
                default=None,
                help="names the run directory <save_dir>/<run_name>/ (checkpoints/ and the loggers' files); "
                "default: the logger's name, else the config file's stem (run_dir.py)",
            )
            parser.set_defaults(
                {
                    "trainer.gradient_clip_val": 1.0,
                    "trainer.precision": default_precision(),
                    "trainer.enable_model_summary": False,  # its FLOPs are 0 and its count pre-growth: run_dir.py
                }
            )
            parser.link_arguments(
                "data",
                "model.vocab_size",
                compute_fn=lambda data: getattr(data, "vocab_size", None),
                apply_on="instantiate",
            )

        def _parse_ckpt_path(self) -> None:
            """Check --ckpt_path before anything loads it; `fit` keeps the config it was given (resume.py)."""
            from ..resume import check_resume_file

            path = self.config[self.config.subcommand].get("ckpt_path")
            if path and Path(path).is_file():
                check_resume_file(path)
            if self.config.subcommand != "fit":  # validate/test: the checkpoint's model arguments, as LightningCLI
                super()._parse_ckpt_path()

        def before_instantiate_classes(self) -> None:
            from ..fit_checks import check_parsed

            check_parsed(self.config[self.subcommand])
            config = self.config[self.subcommand]
            self.run_name = choose_run_name(config.get("run_name"), config["trainer"].get("logger"), config["config"])
            config["run_name"] = self.run_name  # the run's config.yaml names its run: `--config it` refits into it
            name_loggers(config["trainer"], self.run_name, self.subcommand)

        def after_instantiate_classes(self) -> None:
            self._dump_config()  # the run's config.yaml, recorded in its checkpoints for the next resume
            self.model.run_config = self.config_dump

        def before_fit(self) -> None:
            self._checkpoint_files()
            self._announce_resume_changes()

        def _announce_resume_changes(self) -> None:
            from ..resume import announce_changes

            path = self.config_init[self.subcommand].get("ckpt_path")
            if path and Path(path).exists():  # a file, or a distributed checkpoint directory (its meta.pt)
                announce_changes(path, self.model.run_config or {})

        def _checkpoint_files(self) -> None:
            """Atomic checkpoints, one folder per run, and `--ckpt_path last|auto` (callbacks/checkpointing.py)."""
            from ..callbacks.checkpointing import RESOLVED_CKPT_PATHS, install_checkpointing, resolve_ckpt_path

            kwargs = self.config_init[self.subcommand]
            run_dir = run_directory(self.trainer, self.run_name)  # validate: `--ckpt_path last` looks there too
            if self.subcommand == "fit":
                if self.trainer.is_global_zero:  # before DDP launches: no rank has written yet
                    note = check_fresh(run_dir, self.run_name, kwargs.get("ckpt_path"))
                    if note:
                        announce(note)
                announce(f"run {self.run_name!r}: run directory {run_dir.resolve()}")
                if not kwargs.get("ckpt_path"):  # a resume rebuilds the model at the checkpoint's depth later
                    announce(model_line(self.model, self.trainer.max_steps))
            install_checkpointing(self.trainer, run_dir)
            if kwargs.get("ckpt_path") in RESOLVED_CKPT_PATHS:
                kwargs["ckpt_path"] = resolve_ckpt_path(self.trainer, kwargs["ckpt_path"])

        before_validate = before_test = _checkpoint_files

        def after_fit(self) -> None:
            trainer = self.trainer
            if not trainer.is_global_zero:
                return
            lm = self.model
            callback = trainer.checkpoint_callback
            ckpt = getattr(callback, "last_model_path", "") or getattr(callback, "best_model_path", "")
            print(
                f"\n[lightning_iter] finished at step {trainer.global_step}: {lm.model.n_unique} unique layers, "
                f"effective depth {lm.model.depth}, {lm.model.num_parameters():,} parameters"
            )
            if ckpt:
                print(f"[lightning_iter] checkpoint: {Path(ckpt).absolute()}")  # last.ckpt, not the file it links
            run_dir = run_directory(trainer, self.run_name)
            print(f"[lightning_iter] run {self.run_name!r}: run directory {run_dir.resolve()}")
            for line in logger_lines(trainer, run_dir):
                print(f"[lightning_iter] {line}")

    with warnings.catch_warnings():
        # `args` carries the command line on purpose; sys.argv must stay whole (DDP's launcher re-runs it per rank)
        warnings.filterwarnings("ignore", message=ARGS_WARNING)
        warnings.filterwarnings("ignore", message=PYTREE_WARNING)
        quiet_lightning()
        LightningIterCLI(
            LanguageModel,
            L.LightningDataModule,
            subclass_mode_data=True,
            args=[subcommand, *argv],
            save_config_kwargs={"overwrite": True},
            auto_configure_optimizers=False,
        )


def main(argv: Sequence[str]) -> None:
    run_lightning("fit", argv)
