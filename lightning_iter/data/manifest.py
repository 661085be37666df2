"""The manifest of a `lightning_iter prepare` output: its file name, version, reading, validation and writing.

`prepare` writes `lightning_iter_prepare.json` last, as the completion marker of a local dataset directory
(litdata's `index.json` beside it); `StreamingDataModule` reads it for the seq_len, tokenizer and vocabulary
the data was prepared with. Object-store URLs have no manifest (litdata's index marks them complete).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..atomic import write_json_atomic
from ..errors import ConfigError, check_int
from .tokenizer import Tokenizer

MANIFEST = "lightning_iter_prepare.json"
MANIFEST_VERSION = 1  # part of `prepare`'s key: raising it makes re-runs prepare again
INDEX = "index.json"  # litdata's chunk index
REQUIRED_FIELDS = (
    "version",
    "key",
    "seq_len",
    "block_size",
    "blocks",
    "tokenizer",
    "tokenizer_fingerprint",
    "max_token_id",
)


def is_url(path: str | Path) -> bool:
    """Whether a data location is an object-store URL (`s3://...`) rather than a local directory."""
    return "://" in str(path)


def tokenizer_fingerprint(tokenizer: Tokenizer) -> str:
    """Hash of a tokenizer's spec (without its display name): sources must agree on it to be mixed."""
    spec = {k: v for k, v in tokenizer.to_spec().items() if k != "name"}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def validate_manifest(manifest: Any, source: str) -> dict[str, Any]:
    """`manifest` if it has every field this version reads and a version it can read; else one ConfigError."""
    if not isinstance(manifest, dict):
        raise ConfigError(f"{source} holds a {type(manifest).__name__}, not a JSON object: run prepare again")
    if "version" in manifest:  # first: a newer manifest may lack what this version requires
        version = check_int(f"{source}: version", manifest["version"], 1)
        if version > MANIFEST_VERSION:
            raise ConfigError(
                f"{source} has manifest version {version}, newer than this lightning_iter (reads up to "
                f"{MANIFEST_VERSION}): upgrade lightning_iter"
            )
    missing = [name for name in REQUIRED_FIELDS if name not in manifest]
    if missing:
        raise ConfigError(f"{source} is malformed: it has no {missing[0]!r} field: run prepare again")
    return manifest


def read_manifest(path: str | Path) -> dict[str, Any] | None:
    """The validated manifest of a local prepared dataset directory, or None for object-store URLs."""
    if is_url(str(path)):
        return None
    directory = Path(path)
    if not directory.is_dir():
        raise ConfigError(f"data source {path} does not exist: run `lightning_iter prepare ... --out {path}` first")
    manifest = directory / MANIFEST
    if not manifest.is_file() or not (directory / INDEX).is_file():
        raise ConfigError(
            f"data source {path} is not a completed `lightning_iter prepare` output "
            f"(no {MANIFEST} / {INDEX}): run prepare again"
        )
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{manifest} is not valid JSON ({err}): run prepare again") from None
    return validate_manifest(data, str(manifest))


def existing_manifest(path: str | Path) -> dict[str, Any] | None:
    """The manifest if `path` is a completed, readable prepare output; else None (missing, partial or foreign)."""
    try:
        return read_manifest(path)
    except (ConfigError, OSError):
        return None


def write_manifest(directory: str | Path, manifest: dict[str, Any]) -> Path:
    """Write the manifest into a finished dataset directory, atomically: the last file, marking it complete."""
    path = Path(directory) / MANIFEST
    return write_json_atomic(path, validate_manifest(manifest, str(path)))
