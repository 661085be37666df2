"""Checkpoint files a kill cannot tear or mix up: atomic writes, `last.ckpt` as a link, one directory per run.

`lightning_iter fit` installs all of it without a config change (`install_checkpointing`): the strategy's
`TorchCheckpointIO` becomes `AtomicCheckpointIO`, and every plain `ModelCheckpoint` becomes a `RunCheckpoint`.
`resolve_ckpt_path` gives `--ckpt_path last` / `auto` their meaning: the newest checkpoint of this run's name
that loads (Lightning's own `last` would pick the newest `last*.ckpt` by time, torn or not).
"""

from __future__ import annotations

import os
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.fabric.utilities.cloud_io import _is_local_file_protocol
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.strategies import ModelParallelStrategy
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from ..atomic import durable_write, remove_stale_temps, replace_dir, replace_with_symlink, staging_dir
from ..checkpoint import newest_loadable
from ..distributed_checkpoint import ShardedCheckpointStrategy, is_distributed_checkpoint, load_consolidated
from ..errors import CheckpointError

RESOLVED_CKPT_PATHS = ("last", "auto")
NOT_EMPTY_WARNING = r"Checkpoint directory .* exists and is not empty"  # ModelCheckpoint's, on every resume
# Tests only: seconds to sleep between writing a checkpoint's temporary file and renaming it (a kill window).
SAVE_DELAY_ENV = "LIGHTNING_ITER_TEST_SAVE_DELAY"
CKPT_SUFFIX = ".ckpt"  # our temporaries: `.NAME.ckpt.tmp-PID-XXXXXXXX` (`atomic.temp_path`)


@rank_zero_only
def announce(line: str) -> None:
    """Print one `[lightning_iter]` line on rank 0 (stdout, like the end-of-fit summary)."""
    print(f"[lightning_iter] {line}", flush=True)


class AtomicCheckpointIO(TorchCheckpointIO):
    """`torch.save` to a temporary file beside the target, fsynced and renamed (`atomic.durable_write`)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None or not _is_local_file_protocol(str(path)):
            return super().save_checkpoint(checkpoint, path, storage_options)
        delay = float(os.environ.get(SAVE_DELAY_ENV, "0") or 0)

        def write(tmp: Path) -> None:
            torch.save(checkpoint, tmp)
            if delay > 0:
                time.sleep(delay)

        durable_write(path, write)
        return None

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        """A distributed (FSDP2) checkpoint directory is gathered on this process (one device or DDP resumes it)."""
        if is_distributed_checkpoint(path):
            return load_consolidated(path)
        if map_location is None:
            return super().load_checkpoint(path, weights_only=weights_only)
        return super().load_checkpoint(path, map_location, weights_only)


def version_dirs(root: Path) -> list[Path]:
    """`root/version_N` folders, by N."""
    found = [p for p in root.glob("version_*") if p.is_dir() and p.name[len("version_") :].isdigit()]
    return sorted(found, key=lambda p: int(p.name[len("version_") :]))


def next_version(root: Path) -> str:
    """`version_N` with N one above the highest in `root` (0 for none)."""
    existing = version_dirs(root)
    return f"version_{int(existing[-1].name[len('version_') :]) + 1 if existing else 0}"


class RunCheckpoint(ModelCheckpoint):
    """`ModelCheckpoint` that writes each run into its own `version_N` folder and links `last.ckpt` atomically.

    With an explicit `dirpath` (or no logger) the run writes to `dirpath/version_N` (N: the logger's version, else
    the next free one), so re-running a config never mixes `last-v1.ckpt` into an older run's folder; with a
    logger and no `dirpath` Lightning's `<save_dir>/<name>/version_N/checkpoints` is already one folder per run.
    `save_last=True` is a link to the newest checkpoint (one write per save, never one save behind).
    """

    run_root: str | None = None  # the folder holding this run name's version_N folders; None: the logger's
    run_dir: str | None = None  # set by `lightning_iter fit` (run_dir.py): checkpoints go to `run_dir/checkpoints`

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._adopt()

    @classmethod
    def upgrade(cls, callback: ModelCheckpoint) -> RunCheckpoint:
        """Turn a plain `ModelCheckpoint` (as a config builds it) into a `RunCheckpoint`, keeping its settings."""
        callback.__class__ = cls
        assert isinstance(callback, RunCheckpoint)
        callback._adopt()
        return callback

    def _adopt(self) -> None:
        self.run_root = str(self.dirpath) if self.dirpath is not None else None
        self._versioned = False
        # With a monitor, Lightning links `last` to the last *kept* (best) file: the newest state would be nowhere.
        local = self.dirpath is None or _is_local_file_protocol(str(self.dirpath))
        if self.save_last is True and self.monitor is None and local:
            self.save_last = "link"

    @property
    def state_key(self) -> str:
        """`ModelCheckpoint`'s key, so checkpoints written before the upgrade restore this callback's state."""
        return super().state_key.replace(type(self).__qualname__, ModelCheckpoint.__qualname__, 1)

    def search_dirs(self, trainer: L.Trainer) -> list[Path]:
        """Every folder where a run of this name may have written checkpoints (older layouts included)."""
        if self.run_dir is not None:
            return [Path(self.run_dir) / "checkpoints"]
        if self.run_root is not None:
            root = Path(self.run_root)
            return [root, *version_dirs(root)]
        if trainer.loggers:
            logger = trainer.loggers[0]
            root = Path(getattr(logger, "root_dir", None) or Path(logger.save_dir or trainer.default_root_dir))
            return sorted(p for p in root.glob("*/checkpoints") if p.is_dir())
        root = Path(trainer.default_root_dir) / "checkpoints"
        return [root, *version_dirs(root)]

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if not self._versioned and self.run_dir is not None:
            self.dirpath, self._versioned = os.path.join(self.run_dir, "checkpoints"), True
        if not self._versioned:
            if self.run_root is None and not trainer.loggers:
                self.run_root = os.path.join(trainer.default_root_dir, "checkpoints")
            if self.run_root is not None and _is_local_file_protocol(self.run_root):
                version = None
                if trainer.is_global_zero:
                    logged = trainer.loggers[0].version if trainer.loggers else None
                    version = logged if isinstance(logged, str) else None
                    if version is None:
                        version = f"version_{logged}" if logged is not None else next_version(Path(self.run_root))
                self.dirpath = os.path.join(self.run_root, trainer.strategy.broadcast(version))
            self._versioned = True
        with warnings.catch_warnings():
            if self.run_dir is not None:  # `fit` checked it (run_dir.check_fresh): checkpoints there mean a resume
                warnings.filterwarnings("ignore", message=NOT_EMPTY_WARNING)
            super().setup(trainer, pl_module, stage)
        if trainer.is_global_zero and stage == "fit" and self.dirpath and _is_local_file_protocol(str(self.dirpath)):
            remove_stale_temps(self.dirpath, suffix=CKPT_SUFFIX)
            if self.run_dir is None:  # with a run directory, `fit` announces it
                announce(f"run directory: {Path(self.dirpath).resolve()}")

    @staticmethod
    def _link_checkpoint(trainer: L.Trainer, filepath: str, linkpath: str) -> None:
        if trainer.is_global_zero and os.path.abspath(filepath) != os.path.abspath(linkpath):
            target = os.path.relpath(filepath, os.path.dirname(linkpath))
            try:
                replace_with_symlink(target, linkpath)
            except OSError:  # no symlinks here (e.g. Windows without the privilege): a hard link, else a copy
                if Path(filepath).is_dir():  # a distributed checkpoint: a copy of the directory
                    replace_dir(shutil.copytree(filepath, staging_dir(linkpath, create=False)), linkpath)
                    trainer.strategy.barrier()
                    return
                try:
                    durable_write(linkpath, lambda tmp: os.link(filepath, tmp))
                except OSError:
                    durable_write(linkpath, lambda tmp: tmp.write_bytes(Path(filepath).read_bytes()))
        trainer.strategy.barrier()


def install_checkpointing(trainer: L.Trainer, run_dir: str | Path | None = None) -> None:
    """Atomic checkpoint files and one folder per run for `trainer` (custom IO plugins and callbacks are kept).

    With `run_dir`, every `RunCheckpoint` without its own `dirpath` writes to `run_dir/checkpoints`.
    """
    if type(trainer.strategy) is ModelParallelStrategy:  # FSDP2: checkpoint directories (distributed_checkpoint.py)
        ShardedCheckpointStrategy.upgrade(trainer.strategy)
    if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
        trainer.strategy.checkpoint_io = AtomicCheckpointIO()
    for callback in trainer.checkpoint_callbacks:
        if type(callback) is ModelCheckpoint:
            RunCheckpoint.upgrade(callback)
        if run_dir is not None and isinstance(callback, RunCheckpoint) and callback.run_root is None:
            callback.run_dir = str(run_dir)


def resolve_ckpt_path(trainer: L.Trainer, value: str) -> str | None:
    """`--ckpt_path last|auto` -> the newest checkpoint of this run's name that loads, announcing what it skipped.

    `last` with none is an error; `auto` with none starts fresh (None), announced.
    """
    callbacks = [cb for cb in trainer.checkpoint_callbacks if isinstance(cb, RunCheckpoint)]
    dirs = list(dict.fromkeys(d for cb in callbacks for d in cb.search_dirs(trainer)))
    files = []
    for directory in dirs:
        if rank_zero_only.rank == 0:
            remove_stale_temps(directory, suffix=CKPT_SUFFIX)
        files += [p for p in directory.glob("*.ckpt") if not p.name.startswith(".")]
    found, skipped = newest_loadable(files)
    for path, why in skipped:
        announce(f"--ckpt_path {value}: skipped {path}: {why}")
    where = ", ".join(str(d) for d in dirs) or "(no checkpoint folder configured)"
    if found is not None:
        announce(f"--ckpt_path {value}: resuming from {found}")
        return str(found)
    if value == "auto":
        announce(f"--ckpt_path auto: no checkpoint that loads under {where}; starting fresh")
        return None
    raise CheckpointError(
        f"--ckpt_path=last found no checkpoint that loads under {where} ({len(skipped)} skipped): "
        "give a checkpoint file, or --ckpt_path auto to start fresh when there is none"
    )
