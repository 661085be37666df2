"""Atomic file writes (DESIGN.md §7): write a temporary file in the target's folder, then `os.replace` it.

A crash or an error mid-write leaves the previous file (or none), never a half-written one. Directories
are built in a hidden staging directory beside the target (`staging_dir`) and swapped in by `replace_dir`.
`durable_write` (checkpoints) also fsyncs the file and its directory; its temporary files and the staging
directories carry the writer's pid (`.NAME.tmp-PID-XXXXXXXX`), so a later run removes only those whose writer died.
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
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


def temp_path(final: str | Path) -> Path:
    """A new hidden path `.NAME.tmp-PID-XXXXXXXX` beside `final` (nothing created), found by `stale_temps`."""
    final = Path(final)
    return final.parent / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def stale_temps(directory: str | Path, name: str | None = None, *, suffix: str = "") -> list[Path]:
    """Our temporaries in `directory` (of the file `name`, else of any name ending in `suffix`) whose writer is gone:
    another pid that is not alive, this process (nothing of ours is mid-write when this is called), or no pid
    (written before pids were recorded)."""
    directory = Path(directory)
    pattern = re.compile(r"\.(?P<name>.+)\.tmp-(?:(?P<pid>\d+)-)?.+")
    stem = glob.escape(name) if name is not None else f"*{glob.escape(suffix)}"
    stale = []
    for path in directory.glob(f".{stem}.tmp-*"):
        match = pattern.fullmatch(path.name)
        if match is None:
            continue
        pid = match["pid"]
        if pid is None or int(pid) == os.getpid() or not _pid_alive(int(pid)):
            stale.append(path)
    return sorted(stale)


def remove_stale_temps(directory: str | Path, name: str | None = None, *, suffix: str = "") -> list[Path]:
    """Delete `stale_temps(directory, name, suffix=suffix)` (files, links or folders); returns what was removed."""
    removed = stale_temps(directory, name, suffix=suffix) if Path(directory).is_dir() else []
    for stale in removed:
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
    return removed


def fsync_dir(directory: str | Path) -> None:
    """Make a rename in `directory` durable (a no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def durable_write(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """`write(tmp)` to a `temp_path` beside `path`, fsync it, rename it to `path`, fsync the directory.

    Unlike a temp file in $TMPDIR (Lightning's), the rename never crosses filesystems, so it is never a copy
    that a kill can leave half-done; a kill before the rename leaves a temporary that `remove_stale_temps` finds.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def replace_with_symlink(target: str, link: str | Path) -> Path:
    """Point `link` at `target` (relative to the link's folder) in one rename: it is never missing or half-made."""
    link = Path(link)
    tmp = temp_path(link)
    try:
        os.symlink(target, tmp)
        os.replace(tmp, link)
        fsync_dir(link.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return link


def staging_dir(final: str | Path, *, create: bool = True) -> Path:
    """A new hidden path `.NAME.tmp-PID-XXXXXXXX` beside `final` to build its replacement in (made empty if
    `create`)."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    if create:
        return Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-{os.getpid()}-", dir=final.parent))
    return temp_path(final)


def remove_stale_staging(final: str | Path) -> list[Path]:
    """Delete the staging (and replaced) directories of `final` that a killed run left behind (`stale_temps`)."""
    final = Path(final)
    return remove_stale_temps(final.parent, final.name)


def replace_dir(staging: str | Path, final: str | Path) -> Path:
    """Rename the finished directory `staging` to `final`, replacing what is there; an error leaves `final` as it was.

    The replaced `final` is moved aside (a `staging_dir` name, so `remove_stale_staging` finds it after a kill)
    and deleted only once `staging` is in place.
    """
    staging, final = Path(staging), Path(final)
    if not final.exists() and not final.is_symlink():
        os.replace(staging, final)
        return final
    trash = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-{os.getpid()}-old-", dir=final.parent))
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
