"""Readers of the papers' analysis datasets from local files, in the formats they have on the Hugging Face hub.

GSM8K (`question`/`answer`), MATH (`problem`/`solution`), MQuAKE (its JSON: `questions`, `answer`),
FineWeb-Edu (`text` parquet) and Lambada (`text`; the last word is the answer, lm-eval's `lambada_openai`).
Files are JSON lines, a JSON array or Parquet; nothing is downloaded. Under `--data DIR` each dataset is
`DIR/<name>.{jsonl,json,parquet}` or a folder `DIR/<name>/` of such files (`DATASETS` holds the names).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import torch

from ..data.tokenizer import Tokenizer
from ..errors import ConfigError, check_int
from .options import DATASET_SOURCES, DATASETS  # noqa: F401 - DATASETS re-exported

SUFFIXES = (".jsonl", ".json", ".parquet")


@dataclass(frozen=True)
class TextExample:
    """A prompt and, where the dataset has one, its answer; `text` is what the model reads (prompt + answer)."""

    prompt: str
    answer: str | None = None
    separator: str = "\n"

    @property
    def text(self) -> str:
        return self.prompt if self.answer is None else self.prompt + self.separator + self.answer


@dataclass(frozen=True)
class DatasetFormat:
    """A dataset's hub name, the fields each record must have, and how a record becomes a `TextExample`."""

    name: str
    hub: str
    fields: tuple[str, ...]

    def example(self, record: dict[str, Any], where: str) -> TextExample:
        values = {}
        for name in self.fields:
            value = record.get(name)
            kind = "a non-empty list of strings" if name == "questions" else "a string"
            ok = isinstance(value, str) if name != "questions" else _string_list(value)
            if not ok:
                raise ConfigError(
                    f"{where} has {name}={_short(value)!r}: a {self.name} record needs {kind} there "
                    f"(fields {', '.join(self.fields)}, as in {self.hub}); its fields are {sorted(record)}"
                )
            values[name] = value
        if self.name == "gsm8k":
            return TextExample(values["question"], values["answer"])
        if self.name == "math":
            return TextExample(values["problem"], values["solution"])
        if self.name == "mquake":  # the first of the three paraphrased multi-hop questions, then the answer
            return TextExample(values["questions"][0], values["answer"], " ")
        text = values["text"].strip()
        if self.name == "lambada":  # lm-eval lambada_openai: context = all but the last word, target = " " + word
            context, _, word = text.rpartition(" ")
            if not context or not word:
                raise ConfigError(f"{where} has a Lambada text of one word: it needs a context and a last word")
            return TextExample(context, word, " ")
        return TextExample(text)


FORMATS = {name: DatasetFormat(name, hub, fields) for name, (hub, fields) in DATASET_SOURCES.items()}


def _string_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def _short(value: Any) -> Any:
    return value[:40] + "..." if isinstance(value, str) and len(value) > 40 else value


def data_files(path: Path) -> list[Path]:
    """`path` itself if it is a file, else its .jsonl/.json/.parquet files (recursively, sorted)."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    return [path]


def find_dataset(name: str, root: str | Path) -> Path | None:
    """`root/<name>.{jsonl,json,parquet}` or the folder `root/<name>/`, whichever exists (in that order)."""
    root = Path(root)
    for candidate in [root / f"{name}{suffix}" for suffix in SUFFIXES] + [root / name]:
        if candidate.is_file() or (candidate.is_dir() and data_files(candidate)):
            return candidate
    return None


def _json_records(path: Path) -> Iterator[tuple[dict[str, Any], str]]:
    """Records of a JSON array (MQuAKE's files) or of JSON lines, each with where it is, for error messages."""
    with path.open(encoding="utf-8") as handle:
        head = handle.read(1024).lstrip()
    if head.startswith("["):
        try:
            records = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ConfigError(f"data file {path} is not valid JSON: {err}") from None
        for number, record in enumerate(records):
            yield record, f"data file {path} record {number}"
        return
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ConfigError(f"data file {path} line {number} is not valid JSON: {err}") from None
            yield record, f"data file {path} line {number}"


def _parquet_records(path: Path, columns: Sequence[str]) -> Iterator[tuple[dict[str, Any], str]]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as err:  # noqa: BLE001 - pyarrow raises several types for unreadable files
        raise ConfigError(f"data file {path} is not a readable Parquet file: {err}") from None
    missing = [c for c in columns if c not in parquet.schema_arrow.names]
    if missing:
        raise ConfigError(
            f"data file {path} has no column {missing[0]!r}: its columns are {parquet.schema_arrow.names}"
        )
    row = 0
    for batch in parquet.iter_batches(columns=list(columns), batch_size=1024):
        for record in batch.to_pylist():
            yield record, f"data file {path} row {row}"
            row += 1


def iter_examples(name: str, path: str | Path) -> Iterator[TextExample]:
    """Every example of dataset `name` in `path` (a file or a folder of files), in file order."""
    fmt = FORMATS[name]
    path = Path(path)
    files = data_files(path)
    if not files or not files[0].exists():
        raise ConfigError(f"{name} data {path} does not exist (or holds no {', '.join(SUFFIXES)} file)")
    for file in files:
        suffix = file.suffix.lower()
        if suffix not in SUFFIXES:
            raise ConfigError(f"data file {file} has suffix {suffix!r}: allowed are {', '.join(SUFFIXES)}")
        records = _parquet_records(file, fmt.fields) if suffix == ".parquet" else _json_records(file)
        for record, where in records:
            if not isinstance(record, dict):
                raise ConfigError(f"{where} is a JSON {type(record).__name__}, not an object with {fmt.fields}")
            yield fmt.example(record, where)


def read_examples(name: str, path: str | Path, limit: int | None = None) -> list[TextExample]:
    """The first `limit` examples (all when None) of dataset `name`; an empty result is an error."""
    examples = list(islice(iter_examples(name, path), limit))
    if not examples:
        raise ConfigError(f"{name} data {path} holds no records")
    return examples


def encode_texts(tokenizer: Tokenizer, texts: Iterable[str]) -> list[torch.Tensor]:
    """Token ids of each text (no BOS/EOS), one 1-D long tensor per text: the analyses' common input form."""
    return [torch.tensor(tokenizer.encode(t), dtype=torch.long) for t in texts]


def pack_rows(
    sequences: Iterable[torch.Tensor],
    n_rows: int | None,
    seq_len: int,
    eos_id: int,
    remedy: str = "lower --seq_len or give more data",
) -> torch.Tensor:
    """[n, seq_len] rows, each starting at a new document, documents joined by EOS as in the training stream.

    A row is filled with the documents after its first one (cut at `seq_len`); the cut remainder is dropped
    and the next row starts at the next document, so no document is in two rows. Fewer documents than
    would fill `n_rows` (None: as many as the documents fill) give fewer rows; none is an error."""
    if n_rows is not None:
        check_int("n_examples", n_rows, 1)
    check_int("seq_len", seq_len, 2)
    rows: list[torch.Tensor] = []
    current: list[torch.Tensor] = []
    filled = 0
    for ids in sequences:
        if len(rows) == n_rows:
            break
        piece = ids if not current else torch.cat([torch.tensor([eos_id]), ids])
        current.append(piece[: seq_len - filled])
        filled += len(current[-1])
        if filled == seq_len:
            rows.append(torch.cat(current))
            current, filled = [], 0
    if not rows:
        raise ConfigError(f"the documents hold fewer than seq_len={seq_len} tokens in all: {remedy}")
    return torch.stack(rows)


def document_rows(
    tokenizer: Tokenizer,
    path: str | Path,
    n_rows: int | None,
    seq_len: int,
    field: str = "text",
    remedy: str = "lower --seq_len or give more data",
) -> torch.Tensor:
    """Token rows [n, seq_len] of plain documents (.txt, .jsonl, .parquet: `data.documents`), packed as above:
    held-out text for NLL on any checkpoint, e.g. an `hf:DIR` that records no data module."""
    from ..data.documents import check_input, find_inputs, iter_documents

    files = find_inputs([path])
    for file in files:
        check_input(file, field, field_flag=None)
    texts = (doc for file in files for doc in iter_documents(file, field))
    ids = (torch.tensor(tokenizer.encode(t), dtype=torch.long) for t in texts)
    try:
        return pack_rows((t for t in ids if len(t)), n_rows, seq_len, tokenizer.eos_id, remedy)
    except ConfigError as err:
        raise ConfigError(f"held-out data {path}: {err}") from None


def nll_batches(rows: torch.Tensor, batch_size: int = 8) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(inputs, targets) batches of next-token prediction over `rows` [N, T] (`eval.nll.heldout_nll`'s input)."""
    return [(rows[i : i + batch_size, :-1], rows[i : i + batch_size, 1:]) for i in range(0, len(rows), batch_size)]
