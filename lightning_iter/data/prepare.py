"""Tokenize the user's files into litdata token chunks of whole seq_len+1 blocks (`lightning_iter prepare`).

Documents are separated by EOS and packed into blocks of exactly seq_len+1 tokens, so every litdata
chunk holds whole blocks and `TokensLoader` drops nothing; only the last partial block of each work
unit (< seq_len+1 tokens; at most 4 units per worker) is left out, and the manifest counts it. Local outputs are
written to a temporary directory renamed into place at the end, with the manifest written last: a crashed run
leaves nothing that looks complete, and a re-run with the same inputs is skipped. `--overwrite` replaces only a
directory that carries our manifest; a killed run's staging directories are removed by the next run into the same
parent, and its litdata workers die with it (`workers_die_with_parent`).
"""

from __future__ import annotations

import codecs
import ctypes
import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import remove_stale_staging, replace_dir, staging_dir
from ..errors import ConfigError, check_int
from .documents import check_input, file_kind, find_inputs, iter_documents
from .manifest import MANIFEST, MANIFEST_VERSION, existing_manifest, is_url, tokenizer_fingerprint, write_manifest
from .object_store import allow_plain_http_endpoint
from .tokenizer import Tokenizer

ENCODE_BATCH = 256


def file_signature(path: Path) -> dict[str, Any]:
    """Size, mtime and a SHA-256 of the first and last MiB: cheap on 100 GB inputs, changes when content does."""
    stat = path.stat()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        digest.update(handle.read(1 << 20))
        if stat.st_size > 2 << 20:
            handle.seek(-(1 << 20), os.SEEK_END)
            digest.update(handle.read(1 << 20))
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256_ends": digest.hexdigest()}


@dataclass(frozen=True)
class Piece:
    """A file, or one row group of a Parquet file, with its size in bytes (for balancing work)."""

    path: str
    row_group: int | None = None
    size: int = 0


@dataclass(frozen=True)
class WorkItem:
    """One unit of parallel work: consecutive pieces whose documents form one packed token stream."""

    index: int
    pieces: tuple[Piece, ...]


def work_items(paths: Sequence[Path], units: int) -> list[WorkItem]:
    """Split the inputs into at most `units` contiguous groups of about equal bytes.

    Each unit leaves out its last partial block, so fewer units lose fewer tokens; a few per worker keep
    the workers balanced and the progress bar moving.
    """
    pieces: list[Piece] = []
    for path in paths:
        if file_kind(path) == "parquet":
            import pyarrow.parquet as pq

            metadata = pq.ParquetFile(path).metadata
            pieces.extend(
                Piece(str(path), g, metadata.row_group(g).total_byte_size) for g in range(metadata.num_row_groups)
            )
        else:
            pieces.append(Piece(str(path), None, path.stat().st_size))
    units = max(1, min(units, len(pieces)))
    target = sum(p.size for p in pieces) / units
    groups: list[list[Piece]] = [[]]
    filled = 0.0
    for piece in pieces:
        if groups[-1] and filled >= target * len(groups) and len(groups) < units:
            groups.append([])
        groups[-1].append(piece)
        filled += piece.size
    return [WorkItem(i, tuple(g)) for i, g in enumerate(groups)]


def _documents(item: WorkItem, field: str, txt_split: str, encoding: str = "utf-8"):
    for piece in item.pieces:
        if piece.row_group is None:
            yield from iter_documents(Path(piece.path), field, txt_split, encoding)
            continue
        import pyarrow.parquet as pq

        table = pq.ParquetFile(piece.path).read_row_group(piece.row_group, columns=[field])
        for value in table.column(0).to_pylist():
            if isinstance(value, str) and value.strip():
                yield value


def tokenize_item(
    item: WorkItem,
    *,
    tokenizer: Tokenizer,
    field: str,
    txt_split: str,
    block_size: int,
    dtype: str,
    stats_dir: str,
    encoding: str = "utf-8",
):
    """Yield blocks of exactly `block_size` tokens (documents + EOS, packed); record counts in `stats_dir`."""
    buffer = np.empty(0, dtype=dtype)
    documents = tokens = blocks = max_id = 0
    batch: list[str] = []

    def encode(texts: list[str]) -> list[list[int]]:
        if hasattr(tokenizer, "encode_batch"):
            return tokenizer.encode_batch(texts, eos=True)
        return [tokenizer.encode(t, eos=True) for t in texts]

    def flush(texts: list[str]):
        nonlocal buffer, documents, tokens, blocks, max_id
        ids = [i for doc in encode(texts) for i in doc]
        documents += len(texts)
        tokens += len(ids)
        max_id = max(max_id, max(ids, default=0))
        buffer = np.concatenate([buffer, np.asarray(ids, dtype=dtype)])
        whole = len(buffer) // block_size
        for b in range(whole):
            yield buffer[b * block_size : (b + 1) * block_size].copy()
        blocks += whole
        buffer = buffer[whole * block_size :]

    for text in _documents(item, field, txt_split, encoding):
        batch.append(text)
        if len(batch) >= ENCODE_BATCH:
            yield from flush(batch)
            batch = []
    if batch:
        yield from flush(batch)
    stats = {
        "documents": documents,
        "tokens": tokens,
        "blocks": blocks,
        "dropped_tokens": len(buffer),
        "max_token_id": max_id,
    }
    Path(stats_dir, f"{item.index}.json").write_text(json.dumps(stats))


@dataclass
class PrepareResult:
    out: str
    manifest: dict[str, Any]
    skipped: bool


def prepare_key(
    signatures: list[dict[str, Any]],
    tokenizer: Tokenizer,
    seq_len: int,
    field: str,
    txt_split: str,
    encoding: str = "utf-8",
) -> str:
    """What decides the output: inputs, tokenizer, seq_len and how documents are read."""
    payload: dict[str, Any] = {
        "inputs": signatures,
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "seq_len": seq_len,
        "field": field,
        "txt_split": txt_split,
        "version": MANIFEST_VERSION,
    }
    if codecs.lookup(encoding).name != "utf-8":  # only then: the keys of UTF-8 datasets stay what they were
        payload["encoding"] = codecs.lookup(encoding).name
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


_write_json = write_manifest  # a name of its own: tests replace it to simulate a crash before the manifest
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_FORKS = {"guarded": False, "registered": False, "parent": 0}


def _before_fork() -> None:
    _FORKS["parent"] = os.getpid()


def _in_forked_child() -> None:
    """In every process forked while guarded (litdata's workers and theirs): die when the forking process does."""
    if not _FORKS["guarded"]:
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != _FORKS["parent"]:  # it died before prctl took effect
        os._exit(1)


@contextmanager
def workers_die_with_parent() -> Iterator[None]:
    """While active, processes forked from here (and their own children) get SIGKILL when their parent dies, so a
    `kill -9` of `prepare` leaves no litdata worker running (Linux; elsewhere a no-op)."""
    if sys.platform != "linux":
        yield
        return
    if not _FORKS["registered"]:
        os.register_at_fork(before=_before_fork, after_in_child=_in_forked_child)
        _FORKS["registered"] = True
    _FORKS["guarded"] = True
    try:
        yield
    finally:
        _FORKS["guarded"] = False


def check_overwritable(final: Path) -> None:
    """Refuse, in one line, to replace anything at `final` but an empty directory or one `prepare` wrote."""
    if not final.is_dir() or final.is_symlink():
        raise ConfigError(f"--out={final} exists and is not a directory: choose another --out")
    if (final / MANIFEST).is_file() or not any(final.iterdir()):
        return
    raise ConfigError(
        f"--out={final} is a directory that `lightning_iter prepare` did not write (no {MANIFEST}): "
        "prepare never replaces it; choose another --out"
    )


def prepare_dataset(
    files: Sequence[str | Path],
    tokenizer: Tokenizer,
    out: str,
    *,
    seq_len: int = 2048,
    field: str = "text",
    txt_split: str = "file",
    num_workers: int = 1,
    blocks_per_chunk: int | None = None,
    model_vocab_size: int | None = None,
    overwrite: bool = False,
    verbose: bool = True,
    encoding: str = "utf-8",
) -> PrepareResult:
    """Tokenize `files` into a litdata dataset of (seq_len+1)-token blocks at `out` (local dir or URL).

    Text and JSONL files are decoded strictly in `encoding` (a bad byte is one error naming the file and offset).
    """
    from litdata import optimize
    from litdata.streaming.item_loader import TokensLoader

    for name, value, minimum in (("seq_len", seq_len, 1), ("num_workers", num_workers, 1)):
        check_int(name, value, minimum)
    if model_vocab_size is not None and tokenizer.vocab_size > model_vocab_size:
        raise ConfigError(
            f"--model_vocab_size={model_vocab_size} is smaller than the tokenizer's vocabulary "
            f"({tokenizer.vocab_size} ids): use a model with vocab_size >= {tokenizer.vocab_size} "
            "or a smaller tokenizer"
        )
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ConfigError(
            f"--encoding={encoding!r} is not a codec Python knows: give one such as utf-8, latin-1 or cp1252"
        ) from None
    paths = find_inputs(files)
    for path in paths:
        check_input(path, field, encoding)
    block_size = seq_len + 1
    if blocks_per_chunk is None:  # about 64 MiB of tokens per chunk, at least one block
        blocks_per_chunk = max(1, (32 << 20) // block_size)
    signatures = [file_signature(p) for p in paths]
    key = prepare_key(signatures, tokenizer, seq_len, field, txt_split, encoding)
    remote = is_url(out)
    if remote:
        allow_plain_http_endpoint()  # a local S3 API (MinIO, moto) over http: object_store.py
    final = None if remote else Path(out).resolve()
    if final is not None:
        remove_stale_staging(final)  # left by a killed run (ours only: `atomic.stale_temps`)
    if final is not None and (final.exists() or final.is_symlink()):
        existing = existing_manifest(final)
        if existing is not None and existing.get("key") == key:
            if verbose:
                print(
                    f"[lightning_iter] {final} is up to date ({existing['blocks']} blocks of {block_size} tokens); "
                    "nothing to do"
                )
            return PrepareResult(str(final), existing, skipped=True)
        check_overwritable(final)
        if not overwrite and existing is not None:
            raise ConfigError(
                f"--out={final} was prepared from other inputs/settings: choose another --out or pass --overwrite true"
            )
        if not overwrite and (final / MANIFEST).is_file():
            raise ConfigError(
                f"--out={final} is an unfinished or damaged prepare output (its {MANIFEST} does not read): "
                "choose another --out or pass --overwrite true"
            )
    dtype = "uint16" if tokenizer.vocab_size <= 1 << 16 else "int32"
    items = work_items(paths, units=4 * num_workers)
    workers = min(num_workers, len(items))
    with tempfile.TemporaryDirectory(prefix="lightning_iter_prepare_stats_") as stats_dir:
        if final is not None:
            target = staging_dir(final, create=False)  # litdata creates it
        else:
            target = out
        started = time.time()
        fn = partial(
            tokenize_item,
            tokenizer=tokenizer,
            field=field,
            txt_split=txt_split,
            block_size=block_size,
            dtype=dtype,
            stats_dir=stats_dir,
            encoding=encoding,
        )
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # one Rust thread per litdata worker
        try:
            with workers_die_with_parent():
                optimize(
                    fn=fn,
                    inputs=items,
                    output_dir=str(target),
                    chunk_size=blocks_per_chunk * block_size,
                    item_loader=TokensLoader(),
                    num_workers=workers,
                    verbose=verbose,
                    reorder_files=False,
                    start_method="fork" if sys.platform == "linux" else None,
                    mode="overwrite" if remote else None,
                )
            stats = [json.loads(Path(stats_dir, f"{i.index}.json").read_text()) for i in items]
        except BaseException as err:
            if final is not None:
                shutil.rmtree(target, ignore_errors=True)
            worker_error = _worker_config_error(err)
            if worker_error is not None:
                raise worker_error from None
            raise
        totals = {k: sum(s[k] for s in stats) for k in ("documents", "tokens", "blocks", "dropped_tokens")}
        if totals["blocks"] == 0:
            if final is not None:
                shutil.rmtree(target, ignore_errors=True)
            raise ConfigError(
                f"the inputs hold {totals['tokens']} tokens, less than one block of seq_len+1="
                f"{block_size}: give more text or a smaller --seq_len"
            )
        manifest = {
            "version": MANIFEST_VERSION,
            "key": key,
            "seq_len": seq_len,
            "block_size": block_size,
            "blocks_per_chunk": blocks_per_chunk,
            "dtype": dtype,
            "field": field,
            "txt_split": txt_split,
            "tokenizer": tokenizer.to_spec(),
            "tokenizer_fingerprint": tokenizer_fingerprint(tokenizer),
            "vocab_size": tokenizer.vocab_size,
            "eos_id": tokenizer.eos_id,
            "max_token_id": max(s["max_token_id"] for s in stats),
            **totals,
            "seconds": round(time.time() - started, 3),
            "inputs": signatures,
        }
    if final is None:
        if verbose:
            print(f"[lightning_iter] wrote {totals['blocks']} blocks to {out} (litdata's index.json marks it complete)")
        return PrepareResult(out, manifest, skipped=False)
    _write_json(target, manifest)  # the completion marker, written last
    replace_dir(target, final)
    if verbose:
        print(
            f"[lightning_iter] {totals['documents']} documents, {totals['tokens']:,} tokens -> {totals['blocks']} "
            f"blocks of {block_size} ({totals['dropped_tokens']} tail tokens left out) in {manifest['seconds']} s"
        )
        print(f"[lightning_iter] dataset: {final}")
    return PrepareResult(str(final), manifest, skipped=False)


def _worker_config_error(err: BaseException) -> ConfigError | None:
    """litdata re-raises a worker's exception as text; recover a ConfigError's one-line message from it."""
    marker = "ConfigError: "
    text = str(err)
    if marker not in text:
        return None
    return ConfigError(text.rsplit(marker, 1)[1].strip().splitlines()[0])
