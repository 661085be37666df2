"""Inputs of the analyses: the papers' datasets from local files (`DatasetInputs`), the run's own held-out
sequences (`heldout_tokens`, the option `--inputs heldout`), and reasoning-primitive items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..data.tokenizer import Tokenizer
from ..errors import ConfigError, check_choice, check_int
from ..loading import LoadedModel
from .datasets import DATASETS, SUFFIXES, TextExample, encode_texts, find_dataset, iter_examples, pack_rows
from .options import DEFAULT_DATA, INPUTS, PAPER_INPUTS  # noqa: F401 - DEFAULT_DATA re-exported


@dataclass
class DatasetInputs:
    """Where each dataset is read from (`--data DIR` and per-dataset files) and how much of it the analyses take.

    Token rows are `pack_rows` of the documents (each row starts at a document); every read is cached and
    recorded in `used`, so each analysis's JSON says which file (and which default) it read."""

    tokenizer: Tokenizer
    data: str | None = None  # --data DIR; None: DEFAULT_DATA, and the outputs say so
    files: dict[str, str | None] = field(default_factory=dict)  # dataset -> --<dataset> FILE
    n_examples: int = 8
    seq_len: int = 128
    used: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.files) - set(DATASETS))
        if unknown:
            raise ConfigError(f"dataset {unknown[0]!r} is not an analysis dataset: choose from {', '.join(DATASETS)}")
        check_int("--n_examples", self.n_examples, 1)
        check_int("--seq_len", self.seq_len, 2)

    @property
    def root(self) -> Path:
        return Path(self.data if self.data is not None else DEFAULT_DATA)

    def path(self, analysis: str, dataset: str, hint: str = "") -> Path:
        """The file or folder of `dataset` for `analysis`; missing: one line naming both, the paths and the flags."""
        given = self.files.get(dataset)
        if given is not None:
            path = Path(given)
            if not path.exists():
                raise ConfigError(f"{analysis}: --{dataset}={given} does not exist: give a {dataset} file or folder")
            return path
        found = find_dataset(dataset, self.root)
        if found is None:
            flag = "--data" if self.data is not None else "--data (default data/analysis)"
            looked = ", ".join(str(self.root / f"{dataset}{s}") for s in SUFFIXES)
            raise ConfigError(
                f"{analysis} needs {dataset} data: no {looked} or folder {self.root / dataset}/ (from {flag}); "
                f"pass --{dataset} FILE or --data DIR{hint}, or --inputs heldout for the run's held-out split"
            )
        return found

    def _record(self, analysis: str, dataset: str, path: Path, **extra: Any) -> None:
        source = f"--{dataset}" if self.files.get(dataset) is not None else "--data"
        if source == "--data" and self.data is None:
            source = f"--data default {DEFAULT_DATA}"
        self.used.setdefault(analysis, {})[dataset] = {"path": str(path), "from": source, **extra}

    def examples(self, analysis: str, dataset: str, n: int) -> list[TextExample]:
        """The first `n` examples of `dataset` (fewer when the file has fewer; none is an error)."""
        check_int("number of examples", n, 1)
        path = self.path(analysis, dataset)
        key = ("examples", dataset, n)
        if key not in self._cache:
            from itertools import islice

            found = list(islice(iter_examples(dataset, path), n))
            if not found:
                raise ConfigError(f"{analysis}: {dataset} data {path} holds no records")
            self._cache[key] = found
        self._record(analysis, dataset, path, examples=len(self._cache[key]))
        return self._cache[key]

    def _encode(self, text: str) -> torch.Tensor:
        return encode_texts(self.tokenizer, [text])[0]

    def rows(self, analysis: str, dataset: str, n: int | None = None, seq_len: int | None = None) -> torch.Tensor:
        """[n, seq_len] token rows of `dataset`'s texts (prompt + answer), packed (`datasets.pack_rows`)."""
        n, seq_len = n or self.n_examples, seq_len or self.seq_len
        path = self.path(analysis, dataset)
        key = ("rows", dataset, n, seq_len)
        if key not in self._cache:
            texts = (e.text for e in iter_examples(dataset, path))
            ids = (t for t in map(self._encode, texts) if len(t))  # lazy: a large FineWeb file is read only so far
            try:
                self._cache[key] = pack_rows(ids, n, seq_len, self.tokenizer.eos_id)
            except ConfigError as err:
                raise ConfigError(f"{analysis}: {dataset} data {path}: {err}") from None
        rows = self._cache[key]
        self._record(analysis, dataset, path, rows=int(rows.shape[0]), seq_len=int(rows.shape[1]))
        return rows


def check_inputs(inputs: str) -> str:
    """`--inputs`: `files` (the papers' datasets, default) or `heldout` (the run's own validation split)."""
    return check_choice("--inputs", inputs, INPUTS)


def heldout_tokens(loaded: LoadedModel, n_examples: int, seq_len: int) -> torch.Tensor:
    """The first `n_examples` held-out sequences [n, seq_len] (inputs, cropped) of the run's data module."""
    for name, value in (("n_examples", n_examples), ("seq_len", seq_len)):
        check_int(f"--{name}", value, 2)
    data = loaded.build_datamodule()
    data.setup("validate")
    rows: list[torch.Tensor] = []
    for batch in data.val_dataloader():
        inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
        if isinstance(inputs, dict):
            inputs = inputs.get("input_ids", inputs.get("inputs"))
        rows.extend(inputs[:, :seq_len])
        if len(rows) >= n_examples:
            break
    if not rows:
        raise ConfigError(f"the data module of {loaded.source} has an empty held-out split")
    return torch.stack(rows[:n_examples])


@dataclass(frozen=True)
class Item:
    """A multiple-choice item: the prompt, its choices and which one is correct."""

    prompt: str
    choices: tuple[str, ...]
    answer: int


def primitive_items(task: str, n_items: int, depth: int = 0, shots: int = 5, seed: int = 0) -> list[Item]:
    """Items 0..n_items-1 of the evaluation's test set of a reasoning primitive (`eval.primitives.make_example`)."""
    from ..eval.primitives import make_example

    check_int("--n_items", n_items, 1, allowed="it must be an integer >= 1 (0 turns accuracy off)")
    examples = [make_example(task, depth=depth, shots=shots, seed=seed, index=k) for k in range(n_items)]
    return [Item(ex.prompt, tuple(ex.choices), int(ex.answer)) for ex in examples]


def encode_choices(
    tokenizer: Tokenizer, item: Item, max_len: int, scoring: str = "lm_eval"
) -> list[tuple[list[int], int]]:
    """Per choice: ids of `prompt + " " + choice` (+ EOS under `scoring="eos"`), left-cut to `max_len`, and the
    continuation length; the same rule as `eval.primitives` (lm-eval's by default, seed 000 §3)."""
    context = tokenizer.encode(item.prompt)
    rows = []
    for choice in item.choices:
        whole = tokenizer.encode(item.prompt + " " + choice)
        n_cont = len(whole) - len(context) if whole[: len(context)] == context else len(tokenizer.encode(" " + choice))
        if whole[: len(context)] != context:
            whole = context + tokenizer.encode(" " + choice)
        if scoring == "eos":
            whole, n_cont = whole + [tokenizer.eos_id], n_cont + 1
        rows.append((whole[-max_len:], n_cont))
    return rows
