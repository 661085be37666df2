"""FLOPs model: a grown run's training FLOPs are the sum over steps of the cost at that step's depth."""

from __future__ import annotations

import pytest

from lightning_iter.model import ModelConfig
from lightning_iter.model.flops import run_training_flops, training_flops_per_token


def test_run_training_flops_by_hand():
    config = ModelConfig(vocab_size=10, d_model=4, n_heads=2, n_kv_heads=1, ffn_dim=8, n_layers=4)
    # a layer: q,o 2·4·4 + k,v 2·4·2 + MLP 3·4·8 = 144 matmul weights; the head 4·10 = 40
    # depth 2: 6·(2·144 + 40) + 12·2·3·4 = 2256 per token; depth 4: 6·(4·144 + 40) + 12·4·3·4 = 4272
    assert training_flops_per_token(config, 2, 3) == 2256
    assert training_flops_per_token(config, 4, 3) == 4272
    depth_at = {0: 2, 1: 2, 2: 2, 3: 4, 4: 4}.__getitem__
    assert run_training_flops(config, depth_at, 5, 5, 3) == pytest.approx(3 * 5 * 2256 + 2 * 5 * 4272)  # 76,560
    assert run_training_flops(config, lambda s: 4, 5, 5, 3) == pytest.approx(5 * 5 * 4272)
    assert run_training_flops(config, depth_at, 0, 5, 3) == 0.0
