"""Inputs of the analyses: held-out token sequences of the run's own data, and reasoning-primitive items."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data.tokenizer import Tokenizer
from ..errors import ConfigError, check_int
from ..loading import LoadedModel


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


def encode_choices(tokenizer: Tokenizer, item: Item, max_len: int) -> list[tuple[list[int], int]]:
    """Per choice: ids of `prompt + " " + choice` + EOS (the evaluation's rule: an answer ends its document),
    left-cut to `max_len`, and the continuation length (choice and EOS)."""
    context = tokenizer.encode(item.prompt)
    rows = []
    for choice in item.choices:
        whole = tokenizer.encode(item.prompt + " " + choice)
        n_cont = len(whole) - len(context) if whole[: len(context)] == context else len(tokenizer.encode(" " + choice))
        if whole[: len(context)] != context:
            whole = context + tokenizer.encode(" " + choice)
        whole = whole + [tokenizer.eos_id]
        rows.append((whole[-max_len:], n_cont + 1))
    return rows
