"""Analytic training FLOPs, the accounting behind seed 004 Table 7.

Per token, training costs 6·N (forward 2·N, backward 4·N) for the N matmul parameters that act on it,
counting the output projection once (tied or not), plus 12·depth·seq_len·d_model for the attention
scores and the attention-weighted sum (forward 4·seq_len·d_model per layer). With a batch of 2^20
tokens (360M) or 2^21 (1.7B) this reproduces Table 7's "Standard" rows exactly
(benchmarks/growth_cost.py prints the comparison).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from .config import ModelConfig


def layer_matmul_params(config: ModelConfig) -> int:
    """Weights of one decoder layer that take part in matmuls (norm gains excluded)."""
    kv_dim = config.n_kv_heads * config.head_dim
    attention = 2 * config.d_model * config.d_model + 2 * config.d_model * kv_dim
    mlp = 3 * config.d_model * config.ffn_dim
    return attention + mlp


def training_flops_per_token(config: ModelConfig, depth: int, seq_len: int) -> float:
    """Training FLOPs for one token of a model that applies `depth` layers (its effective depth)."""
    head = config.d_model * config.vocab_size
    matmul = depth * layer_matmul_params(config) + head
    attention = 12 * depth * seq_len * config.d_model
    return 6.0 * matmul + attention


def inference_flops_per_token(config: ModelConfig, depth: int, seq_len: int) -> float:
    """Forward-only FLOPs per token (one third of the training cost)."""
    return training_flops_per_token(config, depth, seq_len) / 3.0


def run_training_flops(
    config: ModelConfig, depth_at: Callable[[int], int], steps: int, tokens_per_step: int, seq_len: int
) -> float:
    """Training FLOPs of a whole run: Σ over optimizer steps s < `steps` of `tokens_per_step` × the per-token cost
    at depth `depth_at(s)` (a grown model pays for the depth it had at each step; seed 004 Table 7)."""
    steps_at_depth = Counter(depth_at(step) for step in range(steps))
    return float(
        sum(n * tokens_per_step * training_flops_per_token(config, d, seq_len) for d, n in steps_at_depth.items())
    )
