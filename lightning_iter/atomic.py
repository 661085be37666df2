"""Atomic file writes (DESIGN.md §7): write a temporary file in the target's folder, then `os.replace` it.

A crash or an error mid-write leaves the previous file (or none), never a half-written one. Directories
are built in a hidden staging directory beside the target (`staging_dir`) and swapped in by `replace_dir`.
"""

from __future__ import annotations

import glob
import json
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call `write(tmp)` on a temporary path beside `path` (same suffix, so writers infer the format), then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix or ".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def staging_dir(final: str | Path, *, create: bool = True) -> Path:
    """A new hidden path `.NAME.tmp-XXXXXXXX` beside `final` to build its replacement in (made empty if `create`)."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    if create:
        return Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    return final.parent / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"


def remove_stale_staging(final: str | Path) -> None:
    """Delete the staging (and replaced) directories of `final` that a killed run left behind."""
    final = Path(final)
    for stale in final.parent.glob(f".{glob.escape(final.name)}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)


def replace_dir(staging: str | Path, final: str | Path) -> Path:
    """Rename the finished directory `staging` to `final`, replacing what is there; an error leaves `final` as it was.

    The replaced `final` is moved aside (a `staging_dir` name, so `remove_stale_staging` finds it after a kill)
    and deleted only once `staging` is in place.
    """
    staging, final = Path(staging), Path(final)
    if not final.exists() and not final.is_symlink():
        os.replace(staging, final)
        return final
    trash = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-old-", dir=final.parent))
    os.replace(final, trash / final.name)
    try:
        os.replace(staging, final)
    except BaseException:
        os.replace(trash / final.name, final)
        trash.rmdir()
        raise
    shutil.rmtree(trash, ignore_errors=True)
    return final


def write_text_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write text (UTF-8) or bytes to `path` atomically."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return atomic_write(path, lambda tmp: tmp.write_bytes(raw))


def json_safe(value: Any) -> Any:
    """Copy with every NaN/inf float as None, so results stay strict JSON (they mark undefined cells or metrics)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {
            k if isinstance(k, (str, int, float, bool)) or k is None else str(k): json_safe(v) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_json_atomic(path: str | Path, obj: Any, **dumps_kwargs: Any) -> Path:
    """`json.dumps(obj, indent=2)` to `path` atomically, NaN/inf written as null (`json_safe`): valid JSON only."""
    text = json.dumps(json_safe(obj), **{"indent": 2, **dumps_kwargs, "allow_nan": False})
    return write_text_atomic(path, text + "\n")


def save_figure_atomic(fig: Any, path: str | Path, **savefig_kwargs: Any) -> Path:
    """Save a matplotlib figure (PNG unless the suffix says otherwise) atomically, then close it."""
    import matplotlib.pyplot as plt

    options = {"dpi": 120, "bbox_inches": "tight", **savefig_kwargs}
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, **options))
    finally:
        plt.close(fig)
