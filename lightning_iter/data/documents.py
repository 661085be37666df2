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


def decode_error(path: Path, err: UnicodeDecodeError, offset: int = 0) -> ConfigError:
    """One line for text that is not in the encoding it is read with: the file, the byte offset, the fix."""
    bad = err.object[err.start : err.start + 1].hex()
    return ConfigError(
        f"input file {path} is not valid {err.encoding} text: byte 0x{bad} at byte offset {offset + err.start} "
        "(give its encoding with --encoding, e.g. --encoding latin-1, or convert it to UTF-8)"
    )


def _lines(path: Path, encoding: str) -> Iterator[tuple[int, str]]:
    """(line number, decoded line) of a text file, decoded strictly: a bad byte is a `decode_error`."""
    offset = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                yield number, raw.decode(encoding)
            except UnicodeDecodeError as err:
                raise decode_error(path, err, offset) from None
            offset += len(raw)


def check_input(path: Path, field: str = "text", encoding: str = "utf-8", field_flag: str | None = "--field") -> None:
    """Fail early on an empty file, or a JSONL/Parquet file without the text field/column (`field_flag`: the
    command's flag that names another field, None where the field is fixed)."""
    choose = f" (choose one with {field_flag})" if field_flag else ""
    if path.stat().st_size == 0:
        raise ConfigError(f"input file {path} is empty")
    kind = file_kind(path)
    if kind == "jsonl":
        for number, line in _lines(path, encoding):
            if line.strip():
                record = _parse_line(line, path, number)
                if field not in record:
                    raise ConfigError(
                        f"input file {path} line {number} has no field {field!r}: "
                        f"its fields are {sorted(record)}{choose}"
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
            raise ConfigError(f"input file {path} has no column {field!r}: its columns are {schema.names}{choose}")
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


def iter_documents(path: Path, field: str = "text", txt_split: str = "file", encoding: str = "utf-8") -> Iterator[str]:
    """Non-empty documents of one file: a JSONL field, a Parquet column, or text split per `txt_split`.

    Text is decoded strictly in `encoding`: a byte that is not valid there is an error, never a U+FFFD.
    """
    kind = file_kind(path)
    if kind == "text":
        check_choice("txt_split", txt_split, TXT_SPLITS)
        try:
            text = path.read_bytes().decode(encoding)
        except UnicodeDecodeError as err:
            raise decode_error(path, err) from None
        text = text.replace("\r\n", "\n").replace("\r", "\n")  # the universal newlines `read_text` applied
        if txt_split == "file":
            parts = [text]
        elif txt_split == "line":
            parts = text.splitlines()
        else:
            parts = [p for p in text.split("\n\n")]
        yield from (p for p in parts if p.strip())
    elif kind == "jsonl":
        for number, line in _lines(path, encoding):
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
