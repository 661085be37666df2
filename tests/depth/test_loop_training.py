"""Looped training: tied weights get the sum of the per-pass gradients; plans equal physically duplicated layers."""

import copy
import os
import subprocess
import sys
from pathlib import Path

import torch

from lightning_iter.depth import get_strategy, loop_plan
from lightning_iter.model import ModelConfig, Transformer, repeat_block

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ModelConfig(vocab_size=40, d_model=32, n_heads=2, n_kv_heads=1, ffn_dim=64, n_layers=6, max_seq_len=16)


def unrolled(model: Transformer) -> Transformer:
    """A plain model whose layer i is a physical copy of the unique layer at plan position i."""
    copy_ = Transformer(ModelConfig(**{**model.config.to_dict(), "n_layers": model.depth}))
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("layers.")}
    copy_.load_state_dict(state, strict=False)
    copy_.layers = torch.nn.ModuleList(copy.deepcopy(model.layers[i]) for i in model.plan)
    return copy_


def test_tied_weight_gradients_are_the_sum_of_the_unrolled_per_pass_gradients():
    torch.manual_seed(0)
    looped = Transformer(CONFIG, loop_plan(2, 2, 2, 2))  # Loop(2-2×2-2): plan 0 1 2 3 2 3 4 5
    flat = unrolled(looped)
    tokens, targets = torch.randint(0, 40, (2, 12)), torch.randint(0, 40, (2, 12))
    looped.loss(tokens, targets).backward()
    flat.loss(tokens, targets).backward()
    for unique, layer in enumerate(looped.layers):
        passes = [depth for depth, index in enumerate(looped.plan) if index == unique]
        for name, param in layer.named_parameters():
            expected = sum(dict(flat.layers[d].named_parameters())[name].grad for d in passes)
            torch.testing.assert_close(param.grad, expected, atol=1e-6, rtol=1e-5)
    assert len([d for d, i in enumerate(looped.plan) if i == 2]) == 2  # the looped block really has two passes
    torch.testing.assert_close(looped.embed_tokens.weight.grad, flat.embed_tokens.weight.grad, atol=1e-6, rtol=1e-5)


def test_repeated_plan_equals_physically_duplicated_layers():
    torch.manual_seed(1)
    model = Transformer(ModelConfig(**{**CONFIG.to_dict(), "n_layers": 4})).eval()
    model.plan = repeat_block(model.plan, 1, 3, 2)  # 0 1 2 1 2 1 2 3
    tokens = torch.randint(0, 40, (2, 10))
    torch.testing.assert_close(model(tokens), unrolled(model).eval()(tokens), atol=1e-6, rtol=1e-5)


def test_unique_parameters_and_inference_cost_are_reported_separately():
    torch.manual_seed(0)
    model = Transformer(CONFIG, loop_plan(2, 2, 2, 2))
    per_layer = sum(p.numel() for p in model.layers[0].parameters())
    assert model.num_parameters(unique=False) - model.num_parameters(unique=True) == 2 * per_layer
    strategy = get_strategy("loop", layers=4, repeats=8)
    strategy.setup(ModelConfig.from_name("smollm-360m"))
    text = strategy.describe()
    assert "Loop(4×8)" in text and "4 unique layers, effective depth 32" in text and "FLOPs/token" in text


def test_tiny_loop_config_trains_end_to_end(tmp_path):
    args = [
        "fit",
        "--config",
        str(ROOT / "configs/loop-tiny.yaml"),
        "--trainer.max_steps",
        "3",
        "--trainer.val_check_interval",
        "3",
        "--trainer.enable_progress_bar",
        "false",
        "--data.seq_len",
        "32",
        "--data.batch_size",
        "2",
        "--data.val_size",
        "4",
        "--model.warmup_steps",
        "1",
    ]
    result = subprocess.run(
        [sys.executable, "-m", "lightning_iter.cli", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Loop(2-2×2-2), 6 unique layers, effective depth 8" in result.stdout + result.stderr
    ckpt = Path(
        next(line for line in result.stdout.splitlines() if line.startswith("[lightning_iter] checkpoint:")).split(
            ": ", 1
        )[1]
    )
    state = torch.load(ckpt, weights_only=False)
    assert state["global_step"] == 3
    assert state["lightning_iter"]["n_unique"] == 6 and state["lightning_iter"]["plan"] == [0, 1, 2, 3, 2, 3, 4, 5]
    assert not any(k.startswith("model.layers.6.") for k in state["state_dict"])
