"""The `lightning_iter` entry of a checkpoint file: its key, version, contents, validation, and a writer.

A `lightning_iter fit` checkpoint is a Lightning checkpoint with one extra entry, `checkpoint["lightning_iter"]`:
the model config, unique-layer count and plan (DESIGN.md §6), the depth strategy spec and, when known, the
tokenizer spec, the data module (class path + init args) and the run's config (`run`, what `fit --ckpt_path`
compares the resumed run with: resume.py). This module is the only one that knows that layout.
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from .atomic import atomic_write
from .distributed_checkpoint import METADATA_FILE, directory_problem, load_metadata
from .errors import CheckpointError, check_int, check_ints
from .model.config import ModelConfig
from .model.transformer import Transformer

CHECKPOINT_KEY = "lightning_iter"
CHECKPOINT_VERSION = 1  # raise it when a change to the entry would make older lightning_iter misread it
REQUIRED_FIELDS = ("version", "config", "n_unique", "plan")
RUN_FIELD = "run"  # the run's config as LightningCLI dumps it (config.yaml), recorded at save (resume.py)
WEIGHTS_PREFIX = "model."  # `LanguageModel.model` holds the Transformer, so Lightning names its weights model.*
# Data module class paths recorded before their module moved -> the path that imports the class today.
MOVED_CLASSES = {"lightning_iter.data.datamodule.PrimitivesDataModule": "lightning_iter.data.PrimitivesDataModule"}


def class_path(cls: type) -> str:
    """`cls`'s import path where it is defined (what LightningCLI records); moved classes are mapped on read."""
    return f"{cls.__module__}.{cls.__qualname__}"


def data_state(datamodule: Any) -> dict[str, Any]:
    """`{"tokenizer": spec, "data": {"class_path", "init_args"}}` of a data module, as far as it can tell.

    Stored in checkpoints so `eval`, `generate` and `analyze` decode with the training tokenizer and
    measure held-out loss on the run's own validation split.
    """
    state: dict[str, Any] = {}
    if datamodule is None:
        return state
    tokenizer = getattr(datamodule, "tokenizer", None)
    if tokenizer is not None and hasattr(tokenizer, "to_spec"):
        state["tokenizer"] = tokenizer.to_spec()
    hparams = dict(getattr(datamodule, "hparams", {}) or {})
    # LightningCLI records jsonargparse bookkeeping keys (`_class_path`, `_instantiator`) among the init args.
    state["data"] = {
        "class_path": class_path(type(datamodule)),
        "init_args": {k: v for k, v in hparams.items() if not k.startswith("_")},
    }
    return state


def build_entry(
    model: Transformer,
    depth: dict[str, Any] | None = None,
    *,
    tokenizer: Any = None,
    data: dict[str, Any] | None = None,
    run: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The entry for `model` trained under depth strategy spec `depth`, with a tokenizer (or its spec), data spec
    and the run's config (`run`)."""
    entry: dict[str, Any] = {
        "version": CHECKPOINT_VERSION,
        "config": model.config.to_dict(),
        "n_unique": model.n_unique,
        "plan": list(model.plan),
        "depth": dict(depth or {"name": "baseline"}),
    }
    if tokenizer is not None:
        entry["tokenizer"] = tokenizer if isinstance(tokenizer, dict) else tokenizer.to_spec()
    if data is not None:
        entry["data"] = dict(data)
    if run is not None:
        entry[RUN_FIELD] = run
    return entry


def read_entry(checkpoint: Any, source: str = "checkpoint") -> dict[str, Any]:
    """The validated entry of a loaded checkpoint (`source` names it in errors); old class paths are updated."""
    entry = checkpoint.get(CHECKPOINT_KEY) if isinstance(checkpoint, dict) else None
    if not isinstance(entry, dict):
        raise CheckpointError(
            f"{source} has no {CHECKPOINT_KEY!r} entry: it was not written by lightning_iter "
            "(expected a checkpoint saved by `lightning_iter fit`)"
        )
    field = f"{source}: {CHECKPOINT_KEY}"
    if "version" in entry:  # first: a newer entry may lack what this version requires
        version = check_int(f"{field}.version", entry["version"], 1, error=CheckpointError)
        if version > CHECKPOINT_VERSION:
            where = "" if source == "checkpoint" else f"{source}: "
            raise CheckpointError(
                f"{where}checkpoint version {version} is newer than this lightning_iter "
                f"(reads up to {CHECKPOINT_VERSION}): upgrade lightning_iter"
            )
    missing = [name for name in REQUIRED_FIELDS if name not in entry]
    if missing:
        raise CheckpointError(
            f"{source}'s {CHECKPOINT_KEY!r} entry is malformed: it has no {missing[0]!r} "
            f"(it needs {', '.join(map(repr, REQUIRED_FIELDS))})"
        )
    if not isinstance(entry["config"], dict):
        raise CheckpointError(f"{field}.config={entry['config']!r} is not allowed: it must be a ModelConfig dict")
    check_int(f"{field}.n_unique", entry["n_unique"], 1, error=CheckpointError)
    check_ints(f"{field}.plan", entry["plan"], 0, error=CheckpointError)
    data = entry.get("data")
    if data is None:
        return dict(entry)
    if not isinstance(data, dict) or not isinstance(data.get("class_path"), str):
        raise CheckpointError(f"{field}.data={data!r} is not allowed: it must be {{class_path: ..., init_args: ...}}")
    return {**entry, "data": {**data, "class_path": MOVED_CLASSES.get(data["class_path"], data["class_path"])}}


def check_compatible(entry: dict[str, Any], config: ModelConfig) -> None:
    """Raise CheckpointError if the entry's model shape differs from `config` (unique-layer count aside)."""
    saved = entry["config"]
    ignored = {"n_layers", "kernels", "name", "activation_checkpointing"}  # (these keep shapes and function)
    defaults = type(config)().to_dict()
    for field, value in config.to_dict().items():
        if field in ignored or (field not in saved and value == defaults[field]):
            continue  # (a field newer than the checkpoint, e.g. ln_scaling, counts at its default)
        old = saved.get(field)
        if old is None or (old != value and not (isinstance(value, float) and math.isclose(old, value))):
            raise CheckpointError(
                f"checkpoint is from another model: it has model.{field}={old!r}, this run builds "
                f"model.{field}={value!r} (use the same arch and arch_overrides as the run that wrote it)"
            )


def model_weights(checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The Transformer's state dict inside a checkpoint's Lightning `state_dict`."""
    state = checkpoint.get("state_dict", {})
    return {k[len(WEIGHTS_PREFIX) :]: v for k, v in state.items() if k.startswith(WEIGHTS_PREFIX)}


def write_checkpoint(
    path: str | Path,
    model: Transformer,
    *,
    depth: dict[str, Any] | None = None,
    tokenizer: Any = None,
    data: dict[str, Any] | None = None,
    global_step: int = 0,
) -> Path:
    """Save `model` as a checkpoint `load_model` reads like a `fit` one (weights + entry), atomically.

    For tests and tools that have a model but no Trainer; `depth`, `tokenizer`, `data` as in `build_entry`.
    """
    checkpoint = {
        "state_dict": {f"{WEIGHTS_PREFIX}{k}": v for k, v in model.state_dict().items()},
        CHECKPOINT_KEY: build_entry(model, depth, tokenizer=tokenizer, data=data),
        "global_step": global_step,
    }
    return atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))


def checkpoint_problem(path: str | Path) -> str | None:
    """Why the file at `path` cannot be resumed from (empty, torn, not ours, a dangling link), or None if it loads.

    Cheap first (size, the zip's central directory), then a CPU `torch.load` (memory-mapped) and `read_entry`;
    a directory must be a complete distributed checkpoint whose `meta.pt` holds our entry.
    """
    return diagnose_checkpoint(path)[0]


def diagnose_checkpoint(path: str | Path, source: str | None = None) -> tuple[str | None, CheckpointError | None]:
    """`checkpoint_problem`, and the entry's own error when our entry is what is wrong (`source` names the file
    in it, default the path), so that a caller can report that error without loading the file again."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        return f"a link to {os.readlink(path)}, which does not exist", None
    try:
        size = path.stat().st_size
    except OSError as err:
        return f"unreadable ({err.strerror})", None
    if path.is_dir():
        return _diagnose_directory(path, source)
    if size == 0:
        return "an empty file", None
    if not zipfile.is_zipfile(path):
        return (
            f"not a complete torch checkpoint ({size:,} bytes without a zip central directory: torn or foreign)",
            None,
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except Exception as err:  # noqa: BLE001 - any failure to load is the reason it is skipped
        return f"unloadable ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})", None
    problem = _entry_problem(checkpoint, path, source)
    if problem is not None:
        return problem
    if "state_dict" not in checkpoint or "global_step" not in checkpoint:
        return "not a Lightning training checkpoint (no state_dict / global_step)", None
    return None, None


def _entry_problem(checkpoint: Any, path: Path, source: str | None) -> tuple[str, CheckpointError | None] | None:
    """`diagnose_checkpoint`'s answer when the loaded `checkpoint` (a file's dict or a directory's metadata) has no
    valid lightning_iter entry; None when it has one."""
    try:
        read_entry(checkpoint, source if source is not None and isinstance(checkpoint, dict) else str(path))
    except CheckpointError as err:
        return str(err), err if isinstance(checkpoint, dict) else None
    return None


def _diagnose_directory(path: Path, source: str | None) -> tuple[str | None, CheckpointError | None]:
    """`diagnose_checkpoint` of a directory: a complete distributed (DCP) checkpoint with our entry in `meta.pt`."""
    problem = directory_problem(path)
    if problem is not None:
        return problem, None
    try:
        metadata = load_metadata(path)
    except Exception as err:  # noqa: BLE001 - any failure to load is the reason it is skipped
        return f"a distributed checkpoint whose {METADATA_FILE} is unloadable ({type(err).__name__})", None
    problem = _entry_problem(metadata, path, source)
    if problem is not None:
        return problem
    if "global_step" not in metadata:
        return f"not a Lightning training checkpoint (no global_step in its {METADATA_FILE})", None
    return None, None


def newest_loadable(files: Iterable[str | Path]) -> tuple[Path | None, list[tuple[Path, str]]]:
    """The newest (by modification time, links followed) of `files` that loads, and the newer ones it skipped, why.

    A link (`last.ckpt`) and the file it points at count once, as the file; a dangling link is skipped.
    """
    seen: dict[Path, Path] = {}
    broken: list[tuple[Path, str]] = []
    for file in map(Path, files):
        if file.is_symlink() and not file.exists():
            broken.append((file, checkpoint_problem(file) or "a dangling link"))
            continue
        seen.setdefault(file.resolve(), file)
    ordered = sorted(seen, key=lambda p: (p.stat().st_mtime_ns, str(p)), reverse=True)
    skipped = list(broken)
    for real in ordered:
        problem = checkpoint_problem(real)
        if problem is None:
            return real, skipped
        skipped.append((real, problem))
    return None, skipped
