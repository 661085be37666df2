"""Held-out NLL: token-weighted mean cross-entropy, equal to the loss over all tokens at once."""

import math

import pytest
import torch
import torch.nn.functional as F

from lightning_iter.eval.nll import heldout_nll
from lightning_iter.model import ModelConfig, Transformer


def test_heldout_nll_is_the_token_weighted_mean():
    torch.manual_seed(0)
    model = Transformer(ModelConfig.from_name("tiny", d_model=32, n_heads=2, n_kv_heads=1, ffn_dim=64, n_layers=2))
    a = torch.randint(0, 259, (3, 9))
    b = torch.randint(0, 259, (1, 5))  # batches of different sizes: a plain mean of batch means would differ
    b_targets = torch.randint(0, 259, (1, 5))
    b_targets[0, :2] = -100  # ignored positions do not count
    result = heldout_nll(model, [(a[:, :-1], a[:, 1:]), (b, b_targets)])
    with torch.no_grad():
        logits = torch.cat([model(a[:, :-1]).reshape(-1, 260), model(b).reshape(-1, 260)])
        targets = torch.cat([a[:, 1:].reshape(-1), b_targets.reshape(-1)])
        expected = F.cross_entropy(logits, targets, ignore_index=-100).item()
    assert result["tokens"] == 3 * 8 + 3
    assert result["loss"] == pytest.approx(expected, rel=1e-5)
    assert result["ppl"] == pytest.approx(math.exp(expected), rel=1e-5)


def test_heldout_nll_rejects_empty_input():
    model = Transformer(ModelConfig.from_name("tiny", d_model=32, n_heads=2, n_kv_heads=1, ffn_dim=64, n_layers=1))
    with pytest.raises(ValueError, match="no target tokens"):
        heldout_nll(model, [])
