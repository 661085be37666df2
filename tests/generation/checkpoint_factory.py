"""A small lightning_iter checkpoint written without a Trainer (random weights, byte tokenizer, own data module)."""

from __future__ import annotations

from pathlib import Path

import torch

from lightning_iter.data import ByteTokenizer
from tests.helpers import small_lm


def write_checkpoint(path: Path, depth: dict | None = None, n_layers: int = 4, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    lm = small_lm(depth or {"name": "baseline"}, n_layers=n_layers, vocab_size=ByteTokenizer().vocab_size)
    state = {
        **lm.depth_state(),
        "tokenizer": ByteTokenizer().to_spec(),
        "data": {"class_path": "lightning_iter.data.datamodule.PrimitivesDataModule",
                 "init_args": {"seq_len": 16, "batch_size": 2, "val_size": 4, "seed": 0}},
    }
    torch.save({"state_dict": {f"model.{k}": v for k, v in lm.model.state_dict().items()}, "lightning_iter": state,
                "global_step": 0}, path)
    return path
