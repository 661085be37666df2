"""A `lightning_iter fit`-style checkpoint file written directly from a model (no training run needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from lightning_iter import checkpoint
from lightning_iter.data import ByteTokenizer
from lightning_iter.model import ModelConfig, Transformer

SMALL = {"d_model": 32, "n_heads": 2, "n_kv_heads": 1, "ffn_dim": 64, "max_seq_len": 64}


def tiny_model(n_layers: int = 2, plan: tuple[int, ...] | None = None, seed: int = 0, **overrides: Any) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(ModelConfig.from_name("tiny", **{**SMALL, "n_layers": n_layers, **overrides}), plan).eval()


def write_checkpoint(path: Path, model: Transformer, data: dict[str, Any] | None = None) -> Path:
    """`model` under the baseline strategy with the byte tokenizer and, if given, a data spec."""
    return checkpoint.write_checkpoint(path, model, tokenizer=ByteTokenizer(), data=data)
