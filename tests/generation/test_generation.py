"""Generation: cached decoding equals uncached decoding; sampling options; adaptive depth."""

import pytest
import torch

from lightning_iter.depth import grow_layers, loop_plan
from lightning_iter.errors import ConfigError
from lightning_iter.generation import AdaptiveDepth, LoopSpan, find_loop, generate, sample_next
from lightning_iter.model import ModelConfig, Transformer, repeat_block

CONFIG = ModelConfig(vocab_size=50, d_model=32, n_heads=4, n_kv_heads=2, ffn_dim=64, n_layers=4, max_seq_len=64)


def model_for(name: str) -> Transformer:
    torch.manual_seed(1)
    if name == "looped":
        return Transformer(ModelConfig(**{**CONFIG.to_dict(), "n_layers": 6}), loop_plan(2, 2, 2, 2))
    if name == "repeated":
        return Transformer(CONFIG, repeat_block((0, 1, 2, 3), 1, 3, 2))
    model = Transformer(ModelConfig(**{**CONFIG.to_dict(), "n_layers": 2}))
    grow_layers(model, [0, 1], 2)
    return model


@pytest.mark.parametrize("name", ["looped", "repeated", "grown"])
def test_cached_greedy_equals_uncached_full_forward_decoding(name):
    model = model_for(name)
    prompt = torch.randint(0, CONFIG.vocab_size, (2, 5))
    uncached = generate(model, prompt, 12, cache="none", keep_logits=True)
    cached = generate(model, prompt, 12, cache="per_pass", keep_logits=True)
    assert torch.equal(cached.tokens, uncached.tokens)
    assert cached.new_tokens.shape == (2, 12)
    for a, b in zip(cached.step_logits, uncached.step_logits):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_sampling_is_seeded_and_filters():
    model = model_for("repeated")
    prompt = torch.randint(0, CONFIG.vocab_size, (1, 4))
    a = generate(model, prompt, 8, temperature=1.0, top_p=0.9, seed=3)
    b = generate(model, prompt, 8, temperature=1.0, top_p=0.9, seed=3)
    assert torch.equal(a.tokens, b.tokens)
    assert torch.equal(
        generate(model, prompt, 8, temperature=0.7, top_k=1, seed=5).tokens, generate(model, prompt, 8).tokens
    )
    logits = torch.tensor([[0.0, 5.0, 4.9, -3.0]])
    draws = {int(sample_next(logits, 1.0, top_k=2, generator=torch.Generator().manual_seed(s))) for s in range(40)}
    assert draws == {1, 2}
    nucleus = {int(sample_next(logits, 1.0, top_p=0.3, generator=torch.Generator().manual_seed(s))) for s in range(20)}
    assert nucleus == {1}
    with pytest.raises(ConfigError, match="top_p"):
        sample_next(logits, 1.0, top_p=1.5)


def test_eos_stops_generation():
    model = model_for("grown")
    prompt = torch.randint(0, CONFIG.vocab_size, (1, 4))
    first = int(generate(model, prompt, 1).new_tokens[0, 0])
    out = generate(model, prompt, 10, eos_id=first)
    assert out.new_tokens.tolist() == [[first]]


def test_find_loop():
    assert find_loop(loop_plan(2, 2, 2, 2)) == LoopSpan(2, 2, 2)
    assert find_loop(loop_plan(4, 6)) == LoopSpan(0, 4, 6)
    assert find_loop(repeat_block(tuple(range(8)), 2, 5, 3)) == LoopSpan(2, 3, 4)
    assert find_loop(tuple(range(6))) is None


def test_adaptive_depth_exits_early_or_runs_all_passes():
    model = model_for("looped")
    prompt = torch.randint(0, CONFIG.vocab_size, (1, 5))
    exact = generate(model, prompt, 6)
    never = generate(model, prompt, 6, adaptive=AdaptiveDepth(threshold=1e-12))
    assert never.passes == [[2] * 5] and never.mean_passes == 2.0
    assert torch.equal(never.tokens, exact.tokens)
    always = generate(model, prompt, 6, adaptive=AdaptiveDepth(threshold=1e9))
    assert always.passes == [[1] * 5]
    kl = generate(model, prompt, 6, cache="shared", adaptive=AdaptiveDepth(threshold=1e9, criterion="kl"))
    assert kl.mean_passes == 1.0
    with pytest.raises(ConfigError, match="needs a KV cache"):
        generate(model, prompt, 2, cache="none", adaptive=AdaptiveDepth(threshold=0.1))


def test_adaptive_depth_compares_a_pass_with_its_own_input():
    """Behind an encoder layer, a looped block that changes nothing converges after its first pass."""
    model = model_for("looped")  # Loop(2-2×2-2): plan 0 1 2 3 2 3 4 5, the loop starts at depth 2
    with torch.no_grad():
        for index in (2, 3):  # the looped layers add nothing to the residual: a pass is the identity
            model.layers[index].self_attn.o_proj.weight.zero_()
            model.layers[index].mlp.down_proj.weight.zero_()
    prompt = torch.randint(0, CONFIG.vocab_size, (1, 5))
    result = generate(model, prompt, 4, adaptive=AdaptiveDepth(threshold=1e-6))
    assert result.passes == [[1] * 3]
    with pytest.raises(ConfigError, match="repeats none"):
        generate(Transformer(CONFIG), prompt, 2, adaptive=AdaptiveDepth(threshold=0.1))
