"""Start-up checks of a run's data: the tokenizer file and every local prepared source, before litdata opens any.

Each problem is one `ConfigError` naming the path looked for and the command that makes it. Without these, a
missing chunk surfaces minutes into training as litdata's misleading `ChunkWaitTimeoutError`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError
from .manifest import INDEX, MANIFEST, is_url

TOKENIZER_HINT = (
    "put the tokenizer.json there (the seeds use the SmolLM/cosmo2 tokenizer, vocabulary 49152: the tokenizer.json "
    "of a SmolLM model directory), or train one with `lightning_iter tokenizer train --files <your files> "
    "--vocab_size 49152 --out {path}`"
)


def prepare_command(name: str, path: str, tokenizer: str | None, seq_len: int) -> str:
    """The `lightning_iter prepare` command that writes source `name` at `path`."""
    return (
        f"lightning_iter prepare --files <your {name} files> --tokenizer {tokenizer or '<tokenizer.json>'} "
        f"--seq_len {seq_len} --out {path}"
    )


def check_tokenizer_file(value: str | None) -> None:
    """A `data.tokenizer` path must exist (a tokenizer.json, a directory holding one, or a prepared dataset)."""
    if value in (None, "bytes"):
        return
    path = Path(value)
    if path.is_file() or (path / MANIFEST).is_file() or (path / "tokenizer.json").is_file():
        return
    field = f"data.tokenizer={value}: {path / 'tokenizer.json'}" if path.is_dir() else f"data.tokenizer: {value}"
    raise ConfigError(f"{field} does not exist: {TOKENIZER_HINT.format(path=value)}")


def check_prepared_dir(name: str, path: str, tokenizer: str | None, seq_len: int) -> None:
    """A local source must hold index.json, our manifest and every chunk index.json lists, at its recorded size."""
    if is_url(path):
        return
    directory = Path(path)
    command = prepare_command(name, path, tokenizer, seq_len)
    if not directory.is_dir():
        raise ConfigError(f"data source {name!r}: {path} does not exist: run `{command}` to make it")
    for marker, what in ((INDEX, "litdata's chunk index"), (MANIFEST, "the manifest `prepare` writes last")):
        if not (directory / marker).is_file():
            raise ConfigError(
                f"data source {name!r}: {directory / marker} ({what}) is missing, so {path} is not a finished "
                f"`lightning_iter prepare` output: move it away and run `{command}`"
            )
    try:
        chunks = json.loads((directory / INDEX).read_text(encoding="utf-8"))["chunks"]
        expected = [(str(c["filename"]), int(c["chunk_bytes"])) for c in chunks]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise ConfigError(
            f"data source {name!r}: {directory / INDEX} is not a litdata chunk index ({type(err).__name__}: {err}): "
            f"move {path} away and run `{command}`"
        ) from None
    problems = _chunk_problems(directory, expected)
    if problems:
        more = f" ({len(problems)} of {len(expected)} chunks missing or truncated)" if len(problems) > 1 else ""
        raise ConfigError(
            f"data source {name!r}: {problems[0]}{more}: the prepared data in {path} is incomplete; "
            f"move it away and run `{command}`"
        )


def _chunk_problems(directory: Path, expected: Sequence[tuple[str, int]]) -> list[str]:
    problems = []
    for filename, size in expected:
        chunk = directory / filename
        if not chunk.is_file():
            problems.append(f"chunk {chunk} listed in {INDEX} is missing")
        elif chunk.stat().st_size != size:
            problems.append(f"chunk {chunk} is truncated: {chunk.stat().st_size} of the {size} bytes {INDEX} records")
    return problems


def check_sources(names: Sequence[str], paths: Sequence[str], tokenizer: str | None, seq_len: int) -> None:
    """The tokenizer first (`prepare` needs it), then every source in order; the first problem is the error."""
    check_tokenizer_file(tokenizer)
    for name, path in zip(names, paths):
        check_prepared_dir(name, path, tokenizer, seq_len)
