"""LN-Scaling (seed 004 §3.2, App. E): h'_l = LayerNorm(h_l)/sqrt(l) on each layer's pre-norm outputs, l = 1-based
plan position, checked against the formula written out by hand, on a looped plan, on the Triton path and cached."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_iter import kernels
from lightning_iter.errors import ConfigError
from lightning_iter.model import ModelConfig, Transformer
from lightning_iter.model.cache import KVCache
from lightning_iter.model.layers import apply_rope

SHAPE = dict(n_layers=2, d_model=32, n_heads=4, n_kv_heads=2, ffn_dim=48, vocab_size=64, max_seq_len=32)


def model(ln_scaling: bool, plan=None, **overrides) -> Transformer:
    torch.manual_seed(0)
    net = Transformer(ModelConfig.from_name("tiny", ln_scaling=ln_scaling, **{**SHAPE, **overrides}), plan)
    with torch.no_grad():  # gains away from 1, so a scale folded into the wrong place shows
        for name, p in net.named_parameters():
            if name.endswith("layernorm.weight"):
                p.uniform_(0.5, 1.5)
    return net.eval()


def rms(x: torch.Tensor, gain: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * gain


def by_hand(net: Transformer, layer: int, x: torch.Tensor, position: int) -> torch.Tensor:
    """One pre-norm layer with both norms' outputs divided by sqrt(position), from the raw weights."""
    block, eps, c = net.layers[layer], net.config.norm_eps, net.config
    attn = block.self_attn
    cos, sin = net.rope_tables(x.shape[1], x.device, x.dtype)
    h = rms(x, block.input_layernorm.weight, eps) / math.sqrt(position)
    b, t, _ = x.shape
    q = (h @ attn.q_proj.weight.T).view(b, t, c.n_heads, c.head_dim).transpose(1, 2)
    k = (h @ attn.k_proj.weight.T).view(b, t, c.n_kv_heads, c.head_dim).transpose(1, 2)
    v = (h @ attn.v_proj.weight.T).view(b, t, c.n_kv_heads, c.head_dim).transpose(1, 2)
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    k, v = (z.repeat_interleave(c.n_heads // c.n_kv_heads, dim=1) for z in (k, v))
    mask = torch.ones(t, t, dtype=torch.bool).tril()
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(c.head_dim)
    a = scores.masked_fill(~mask, float("-inf")).softmax(-1) @ v
    hidden = x + a.transpose(1, 2).reshape(b, t, -1) @ attn.o_proj.weight.T
    m = rms(hidden, block.post_attention_layernorm.weight, eps) / math.sqrt(position)
    mlp = block.mlp
    return hidden + (F.silu(m @ mlp.gate_proj.weight.T) * (m @ mlp.up_proj.weight.T)) @ mlp.down_proj.weight.T


def walk_steps(net: Transformer, tokens: torch.Tensor):
    hidden = net.embed(tokens)
    cos, sin = net.rope_tables(tokens.shape[1], tokens.device, hidden.dtype)
    return list(net.walk(hidden, cos, sin))


TOKENS = torch.randint(0, 64, (2, 7), generator=torch.Generator().manual_seed(1))


def test_each_depth_is_the_formula_with_its_plan_position():
    net = model(True)
    with torch.no_grad():
        for step in walk_steps(net, TOKENS):
            expected = by_hand(net, step.layer, step.h, step.depth + 1)
            torch.testing.assert_close(step.out, expected, rtol=1e-5, atol=1e-5)


def test_a_looped_layer_gets_a_different_scale_on_each_pass():
    """Plan 0 1 0 1: unique layer 0 runs at positions l=1 and l=3, so its two passes use 1 and 1/sqrt(3)."""
    net = model(True, plan=(0, 1, 0, 1))
    with torch.no_grad():
        steps = walk_steps(net, TOKENS)
        first, second = steps[0], steps[2]
        assert first.layer == second.layer == 0
        torch.testing.assert_close(second.out, by_hand(net, 0, second.h, 3), rtol=1e-5, atol=1e-5)
        unscaled = by_hand(net, 0, second.h, 1)
        assert (second.out - unscaled).abs().max() > 1e-3  # the scale of the first pass would be wrong here
    assert [net.norm_scale(d) for d in range(4)] == pytest.approx([1 / math.sqrt(p) for p in (1, 2, 3, 4)])


def test_off_by_default_and_the_first_position_is_unscaled():
    assert ModelConfig().ln_scaling is False
    off, on = model(False), model(True)
    with torch.no_grad():
        steps_off, steps_on = walk_steps(off, TOKENS), walk_steps(on, TOKENS)
        assert torch.equal(steps_off[0].out, steps_on[0].out)  # l = 1: 1/sqrt(1), bit for bit
        assert not torch.allclose(steps_off[1].out, steps_on[1].out)
        torch.testing.assert_close(steps_off[1].out, by_hand(off, 1, steps_off[1].h, 1), rtol=1e-5, atol=1e-5)


def test_triton_kernels_and_the_kv_cache_agree_with_the_torch_path():
    launches = dict(kernels._triton_utils.LAUNCHES)
    with torch.no_grad():
        reference = model(True, plan=(0, 1, 1))(TOKENS)
        torch.testing.assert_close(
            model(True, plan=(0, 1, 1), kernels="triton")(TOKENS), reference, rtol=1e-4, atol=1e-5
        )
        assert kernels._triton_utils.LAUNCHES != launches
        net = model(True, plan=(0, 1, 1))
        cache = KVCache(net.plan, "per_pass")
        cached = torch.cat([net.forward_cached(TOKENS[:, :4], cache), net.forward_cached(TOKENS[:, 4:], cache)], 1)
        torch.testing.assert_close(cached, reference, rtol=1e-4, atol=1e-5)


def test_gradients_reach_the_norm_gains():
    net = model(True).train()
    net.loss(TOKENS[:, :-1], TOKENS[:, 1:]).backward()
    assert all(layer.input_layernorm.weight.grad.abs().sum() > 0 for layer in net.layers)


def test_ln_scaling_must_be_a_bool():
    with pytest.raises(ConfigError, match=r"model.ln_scaling=1 is not allowed"):
        ModelConfig(ln_scaling=1)


def test_export_to_hugging_face_refuses_ln_scaling():
    from lightning_iter.model.export import hf_config

    assert hf_config(model(False), dtype=torch.float32)["num_hidden_layers"] == 2
    with pytest.raises(ConfigError, match="model.ln_scaling=True has no Hugging Face Llama equivalent"):
        hf_config(model(True), dtype=torch.float32)


def test_a_checkpoint_written_before_the_field_existed_is_still_compatible():
    from lightning_iter.checkpoint import check_compatible
    from lightning_iter.errors import CheckpointError

    saved = {k: v for k, v in ModelConfig().to_dict().items() if k != "ln_scaling"}
    check_compatible({"config": saved}, ModelConfig())
    with pytest.raises(CheckpointError, match="model.ln_scaling=None"):
        check_compatible({"config": saved}, ModelConfig(ln_scaling=True))


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(0, 1), min_size=1, max_size=6))
def test_any_plan_scales_each_pass_by_its_plan_position(plan):
    net = model(True, plan=tuple(plan))
    with torch.no_grad():
        for step in walk_steps(net, TOKENS[:1, :5]):
            layer = net.layers[step.layer]
            cos, sin = net.rope_tables(5, step.h.device, step.h.dtype)
            expected = layer(step.h, cos, sin, norm_scale=1 / math.sqrt(step.depth + 1))
            assert torch.equal(step.out, expected)
