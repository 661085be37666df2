"""Distributed (DCP) checkpoint directories: what they hold, reading them on one process, and writing them whole.

Under `ModelParallelStrategy` (FSDP2) Lightning saves a checkpoint as a directory: every rank writes its shards
with `torch.distributed.checkpoint` (`.metadata` + `__N_0.distcp` files, keys `state_dict.*` and
`optimizer_N.*`), and rank 0 writes everything else, our `lightning_iter` entry included, to `meta.pt`.
`ShardedCheckpointStrategy` writes that directory beside its final name and renames it (a kill never tears the
last checkpoint) and, at resume, gives the model the checkpoint's depth before the shards load into it.
`load_consolidated` reads such a directory into one Lightning checkpoint dict on one process, what `loading.py`
and `lightning_iter consolidate` use.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.strategies import ModelParallelStrategy
from lightning.pytorch.trainer.states import TrainerFn

from .atomic import fsync_dir, remove_stale_temps, replace_dir, staging_dir
from .errors import CheckpointError, ConfigError

METADATA_FILE = "meta.pt"  # Lightning's `_METADATA_FILENAME`: everything but the model and optimizer shards
DCP_METADATA_FILE = ".metadata"  # torch.distributed.checkpoint's index of the shards, written after them
MODEL_KEY = "state_dict"
OPTIMIZER_PREFIX = "optimizer_"


def is_distributed_checkpoint(path: str | Path) -> bool:
    """Whether `path` is a directory Lightning's ModelParallelStrategy would load as a distributed checkpoint."""
    return Path(path).is_dir() and (Path(path) / METADATA_FILE).is_file()


def directory_problem(path: str | Path) -> str | None:
    """Why the directory `path` is not a complete distributed checkpoint, or None (its entry is not checked here)."""
    path = Path(path)
    missing = [name for name in (DCP_METADATA_FILE, METADATA_FILE) if not (path / name).is_file()]
    if missing:
        return (
            f"a directory that is not a distributed (DCP) checkpoint: it has no {missing[0]} "
            f"(a ModelParallelStrategy checkpoint directory holds {DCP_METADATA_FILE}, {METADATA_FILE} and "
            "*.distcp shards)"
        )
    try:
        keys = shard_keys(path)
    except Exception as err:  # noqa: BLE001 - any unreadable index is the reason
        return f"a distributed checkpoint whose {DCP_METADATA_FILE} is unreadable ({type(err).__name__}: {err})"
    if not any(key.startswith(f"{MODEL_KEY}.") for key in keys):
        return f"a distributed checkpoint without model weights (no {MODEL_KEY}.* in its {DCP_METADATA_FILE})"
    absent = [name for name in shard_files(path) if not (path / name).is_file()]
    if absent:
        return f"an incomplete distributed checkpoint: its shard file {absent[0]} is missing"
    return None


def _reader_metadata(path: Path) -> Any:
    from torch.distributed.checkpoint import FileSystemReader

    return FileSystemReader(str(path)).read_metadata()


def shard_keys(path: str | Path) -> list[str]:
    """The flattened keys (`state_dict.model.layers.0...`, `optimizer_0.state...`) the shards of `path` hold."""
    return list(_reader_metadata(Path(path)).state_dict_metadata)


def shard_files(path: str | Path) -> list[str]:
    """The shard files the index of `path` refers to."""
    storage = _reader_metadata(Path(path)).storage_data or {}
    return sorted({getattr(info, "relative_path", "") for info in storage.values()} - {""})


def load_metadata(path: str | Path) -> dict[str, Any]:
    """The non-tensor part of a checkpoint: `meta.pt` of a directory, else the file itself (memory-mapped)."""
    path = Path(path)
    if path.is_dir():
        problem = directory_problem(path)
        if problem is not None:
            raise CheckpointError(f"checkpoint {path} is {problem}")
        return torch.load(path / METADATA_FILE, map_location="cpu", weights_only=False)
    return torch.load(path, map_location="cpu", weights_only=False, mmap=True)


def load_consolidated(path: str | Path, *, optimizer: bool = True) -> dict[str, Any]:
    """A distributed checkpoint directory as one Lightning checkpoint dict with full tensors, on this process.

    The optimizer states (`optimizer: False` skips them) are re-keyed from parameter names to the positions a
    single-process `Optimizer.state_dict()` uses, so the result is what a single-file `fit` checkpoint holds.
    """
    from torch.distributed.checkpoint import FileSystemReader
    from torch.distributed.checkpoint.format_utils import _EmptyStateDictLoadPlanner
    from torch.distributed.checkpoint.state_dict_loader import _load_state_dict

    path = Path(path)
    checkpoint = load_metadata(path)
    keys = {MODEL_KEY} | ({k.split(".", 1)[0] for k in shard_keys(path)} if optimizer else set())
    shards: dict[str, Any] = {}
    # no_dist: this process reads every shard itself, also inside a distributed run (no collective)
    _load_state_dict(
        shards, storage_reader=FileSystemReader(str(path)), planner=_EmptyStateDictLoadPlanner(keys=keys), no_dist=True
    )
    checkpoint[MODEL_KEY] = shards.pop(MODEL_KEY)
    if optimizer:
        names = sorted((k for k in shards if k.startswith(OPTIMIZER_PREFIX)), key=lambda k: int(k.split("_")[-1]))
        checkpoint["optimizer_states"] = [positional_optimizer_state(shards[k]) for k in names]
    return checkpoint


def positional_optimizer_state(state: dict[str, Any]) -> dict[str, Any]:
    """A name-keyed optimizer state (`get_optimizer_state_dict`) keyed by parameter position, group after group."""
    position: dict[str, int] = {}
    groups = []
    for group in state.get("param_groups", []):
        params = [position.setdefault(name, len(position)) for name in group["params"]]
        groups.append({**group, "params": params})
    per_param = {position[name]: value for name, value in state.get("state", {}).items() if name in position}
    return {"state": per_param, "param_groups": groups}


def consolidate(path: str | Path, out: str | Path) -> Path:
    """Write the distributed checkpoint `path` as the single-file checkpoint `out`, atomically (`load_model`
    and every command reading `--ckpt_path` read it; so does `fit --ckpt_path` on one device or DDP)."""
    from .atomic import atomic_write

    checkpoint = load_consolidated(path)
    return atomic_write(out, lambda tmp: torch.save(checkpoint, tmp))


class ShardedCheckpointStrategy(ModelParallelStrategy):
    """`ModelParallelStrategy` whose distributed checkpoints are written whole and restored at their depth.

    Save: the directory is built under a hidden staging name beside its target and renamed into place by rank 0
    once every rank's shards and `meta.pt` are written (`atomic.replace_dir`). Load: before the shards are read,
    the LightningModule's `restore_depth(metadata)` gives the model the checkpoint's unique layers and plan
    (sharded like the rest), and the optimizers are rebuilt over them, so model and optimizer state load whole.
    """

    @classmethod
    def upgrade(cls, strategy: ModelParallelStrategy) -> ShardedCheckpointStrategy:
        """Turn a `ModelParallelStrategy` (as a config builds it) into this class, keeping its settings."""
        strategy.__class__ = cls
        assert isinstance(strategy, ShardedCheckpointStrategy)
        return strategy

    def setup_environment(self) -> None:
        """One ConfigError, before any process group, for a mesh that does not cover the processes (Lightning's own
        check raises later, in every rank, as a traceback)."""
        data = self.num_nodes if self._data_parallel_size == "auto" else self._data_parallel_size
        tensor = self.num_processes if self._tensor_parallel_size == "auto" else self._tensor_parallel_size
        if data * tensor != self.num_nodes * self.num_processes:
            raise ConfigError(
                f"trainer.strategy: data_parallel_size={data} x tensor_parallel_size={tensor} must equal the "
                f"number of processes, trainer.num_nodes x trainer.devices = {self.num_nodes} x "
                f"{self.num_processes}: set data_parallel_size: {self.num_nodes * self.num_processes} and "
                "tensor_parallel_size: 1"
            )
        super().setup_environment()

    def save_checkpoint(self, checkpoint: dict[str, Any], filepath: Any, storage_options: Any | None = None) -> None:
        if not self._save_distributed_checkpoint or storage_options is not None:
            return super().save_checkpoint(checkpoint, filepath, storage_options)
        final = Path(self.broadcast(str(filepath)))
        staging = None
        if self.global_rank == 0:
            final.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temps(final.parent, final.name)
            staging = str(staging_dir(final, create=False))
        staging = self.broadcast(staging)
        super().save_checkpoint(checkpoint, staging)
        self.barrier("lightning_iter_dcp_written")
        if self.global_rank == 0:
            for name in os.listdir(staging):
                _fsync_file(Path(staging) / name)
            fsync_dir(staging)
            replace_dir(staging, final)
            fsync_dir(final.parent)
        self.barrier("lightning_iter_dcp_renamed")
        return None

    def load_checkpoint(self, checkpoint_path: Any, weights_only: bool | None = None) -> dict[str, Any]:
        path = Path(self.broadcast(str(checkpoint_path)))
        module = self.lightning_module
        restore_depth = getattr(module, "restore_depth", None)
        resized = restore_depth is not None and restore_depth(load_metadata(path))
        trainer = module._trainer if module is not None else None
        if resized and trainer is not None and trainer.state.fn == TrainerFn.FITTING:
            from lightning.fabric.utilities.optimizer import _optimizers_to_device

            self.setup_optimizers(trainer)  # an optimizer over the checkpoint's layers, to load into
            _optimizers_to_device(self.optimizers, self.root_device)
        return super().load_checkpoint(path, weights_only)


def _fsync_file(path: Path) -> None:
    if path.is_file():
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
