"""Atomic file writes (DESIGN.md §7): write a temporary file in the target's folder, then `os.replace` it.

A crash or an error mid-write leaves the previous file (or none), never a half-written one.
"""

from __future__ import annotations

import json
import os
import tempfile
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


def write_text_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write text (UTF-8) or bytes to `path` atomically."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return atomic_write(path, lambda tmp: tmp.write_bytes(raw))


def write_json_atomic(path: str | Path, obj: Any, **dumps_kwargs: Any) -> Path:
    """`json.dumps(obj, indent=2)` to `path` atomically."""
    return write_text_atomic(path, json.dumps(obj, **{"indent": 2, **dumps_kwargs}) + "\n")


def save_figure_atomic(fig: Any, path: str | Path, **savefig_kwargs: Any) -> Path:
    """Save a matplotlib figure (PNG unless the suffix says otherwise) atomically, then close it."""
    import matplotlib.pyplot as plt

    options = {"dpi": 120, "bbox_inches": "tight", **savefig_kwargs}
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, **options))
    finally:
        plt.close(fig)
