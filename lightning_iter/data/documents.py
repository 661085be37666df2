"""Documents of the user's local files: plain text, JSON lines and Parquet, checked before any work starts.

`prepare` and `tokenizer train` both read through here, so they accept the same inputs and fail on
the same bad ones (missing, empty, wrong field) with one clear message.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..errors import ConfigError, check_choice

SUFFIXES = {".txt": "text", ".text": "text", ".md": "text", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
TXT_SPLITS = ("file", "paragraph", "line")


def file_kind(path: Path) -> str:
    """`text`, `jsonl` or `parquet`, from the suffix."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(f"input file {path} has suffix {path.suffix!r}: allowed are {', '.join(sorted(SUFFIXES))}")
    return kind


def find_inputs(patterns: Sequence[str | Path]) -> list[Path]:
    """Expand files, directories (recursively, supported suffixes only) and glob patterns, sorted and deduplicated."""
    if not patterns:
        raise ConfigError("--files is empty: give at least one .txt, .jsonl or .parquet file, directory or glob")
    found: list[Path] = []
    for pattern in patterns:
        text = str(pattern)
        if any(c in text for c in "*?["):
            matches = [Path(p) for p in sorted(glob.glob(text, recursive=True)) if Path(p).is_file()]
            if not matches:
                raise ConfigError(f"input pattern {text!r} matches no file")
            found.extend(matches)
            continue
        path = Path(text)
        if path.is_dir():
            matches = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
            if not matches:
                raise ConfigError(f"input directory {path} holds no {', '.join(sorted(SUFFIXES))} file")
            found.extend(matches)
        elif path.is_file():
            found.append(path)
        else:
            raise ConfigError(f"input file {path} does not exist")
    unique = sorted({p.resolve() for p in found})
    for path in unique:
        file_kind(path)
    return unique


def check_input(path: Path, field: str = "text") -> None:
    """Fail early on an empty file, or a JSONL/Parquet file without the text field/column."""
    if path.stat().st_size == 0:
        raise ConfigError(f"input file {path} is empty")
    kind = file_kind(path)
    if kind == "jsonl":
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    record = _parse_line(line, path, number)
                    if field not in record:
                        raise ConfigError(
                            f"input file {path} line {number} has no field {field!r}: "
                            f"its fields are {sorted(record)} (choose one with --field)"
                        )
                    return
        raise ConfigError(f"input file {path} is empty (only blank lines)")
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            schema = pq.read_schema(path)
        except Exception as err:  # noqa: BLE001 - pyarrow raises several types for unreadable files
            raise ConfigError(f"input file {path} is not a readable Parquet file: {err}") from None
        if field not in schema.names:
            raise ConfigError(
                f"input file {path} has no column {field!r}: its columns are {schema.names} (choose one with --field)"
            )
        if pq.ParquetFile(path).metadata.num_rows == 0:
            raise ConfigError(f"input file {path} is empty (0 rows)")


def _parse_line(line: str, path: Path, number: int) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise ConfigError(f"input file {path} line {number} is not valid JSON: {err}") from None
    if not isinstance(record, dict):
        raise ConfigError(f"input file {path} line {number} is a JSON {type(record).__name__}, not an object")
    return record


def iter_documents(path: Path, field: str = "text", txt_split: str = "file") -> Iterator[str]:
    """Non-empty documents of one file: a JSONL field, a Parquet column, or text split per `txt_split`."""
    kind = file_kind(path)
    if kind == "text":
        check_choice("txt_split", txt_split, TXT_SPLITS)
        text = path.read_text(encoding="utf-8", errors="replace")
        if txt_split == "file":
            parts = [text]
        elif txt_split == "line":
            parts = text.splitlines()
        else:
            parts = [p for p in text.split("\n\n")]
        yield from (p for p in parts if p.strip())
    elif kind == "jsonl":
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                record = _parse_line(line, path, number)
                value = record.get(field)
                if value is None:
                    raise ConfigError(f"input file {path} line {number} has no field {field!r}")
                if not isinstance(value, str):
                    raise ConfigError(
                        f"input file {path} line {number} field {field!r} is a {type(value).__name__}, not a string"
                    )
                if value.strip():
                    yield value
    else:
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(columns=[field], batch_size=1024):
            for value in batch.column(0).to_pylist():
                if isinstance(value, str) and value.strip():
                    yield value
