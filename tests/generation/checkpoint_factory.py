"""A small lightning_iter checkpoint written without a Trainer (random weights, byte tokenizer, own data module)."""

from __future__ import annotations

from pathlib import Path

import torch

from lightning_iter import checkpoint
from lightning_iter.data import ByteTokenizer
from tests.helpers import small_lm

DATA = {
    "class_path": "lightning_iter.data.PrimitivesDataModule",
    "init_args": {"seq_len": 16, "batch_size": 2, "val_size": 4, "seed": 0},
}


def write_checkpoint(path: Path, depth: dict | None = None, n_layers: int = 4, seed: int = 0) -> Path:
    """The initial model of `depth` (its first plan) over `n_layers` target layers, with the small primitive data."""
    torch.manual_seed(seed)
    lm = small_lm(depth or {"name": "baseline"}, n_layers=n_layers, vocab_size=ByteTokenizer().vocab_size)
    return checkpoint.write_checkpoint(
        path, lm.model, depth=lm.depth_strategy.spec(), tokenizer=ByteTokenizer(), data=DATA
    )
