"""KV cache by effective depth: cached forwards equal the full forward for looped, repeated and grown plans."""

import pytest
import torch

from lightning_iter.depth import grow_layers, loop_plan
from lightning_iter.errors import ConfigError, PlanError
from lightning_iter.model import ModelConfig, Transformer, repeat_block
from lightning_iter.model.cache import KVCache

CONFIG = ModelConfig(vocab_size=50, d_model=32, n_heads=4, n_kv_heads=2, ffn_dim=64, n_layers=4, max_seq_len=32)


def grown_model() -> Transformer:
    torch.manual_seed(0)
    model = Transformer(CONFIG.__class__(**{**CONFIG.to_dict(), "n_layers": 2}))
    grow_layers(model, [0, 1], 2)  # LIDAS-style block copy: 2 -> 4 unique layers
    return model


def plans():
    torch.manual_seed(0)
    looped = Transformer(CONFIG.__class__(**{**CONFIG.to_dict(), "n_layers": 6}), loop_plan(2, 2, 2, 2))
    repeated = Transformer(CONFIG, repeat_block((0, 1, 2, 3), 1, 3, 2))
    return {"looped": looped, "repeated": repeated, "grown": grown_model()}


@pytest.mark.parametrize("name", ["looped", "repeated", "grown"])
def test_per_pass_cache_equals_full_forward_in_any_chunking(name):
    model = plans()[name].eval()
    tokens = torch.randint(0, CONFIG.vocab_size, (2, 12))
    full = model(tokens)
    cache = KVCache(model.plan, "per_pass")
    pieces = [model.forward_cached(tokens[:, a:b], cache) for a, b in ((0, 5), (5, 6), (6, 9), (9, 10), (10, 12))]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-4)
    assert cache.position == 12 and cache.n_slots == model.depth


def test_shared_cache_is_smaller_and_exact_without_repeats_but_not_for_loops():
    model = plans()["looped"].eval()  # plan 0 1 2 3 2 3 4 5
    tokens = torch.randint(0, CONFIG.vocab_size, (1, 10))
    shared, per_pass = KVCache(model.plan, "shared"), KVCache(model.plan, "per_pass")
    outs = []
    for cache in (shared, per_pass):
        model.forward_cached(tokens[:, :6], cache)
        outs.append(model.forward_cached(tokens[:, 6:], cache))
    assert shared.n_slots == model.n_unique == 6 and per_pass.n_slots == 8
    assert shared.nbytes() * 8 == per_pass.nbytes() * 6
    # the prompt (one chunk) is exact; later tokens attend to keys written by another pass
    assert (outs[0] - model(tokens)[:, 6:]).abs().max() > 1e-3
    torch.testing.assert_close(outs[1], model(tokens)[:, 6:], atol=1e-5, rtol=1e-4)
    plain = Transformer(CONFIG).eval()
    cache = KVCache(plain.plan, "shared")
    plain.forward_cached(tokens[:, :6], cache)
    torch.testing.assert_close(plain.forward_cached(tokens[:, 6:], cache), plain(tokens)[:, 6:], atol=1e-5, rtol=1e-4)


def test_cache_rejects_another_plan_and_unknown_mode():
    model = Transformer(CONFIG).eval()
    cache = KVCache((0, 1, 2), "per_pass")
    with pytest.raises(PlanError, match="build a new cache"):
        model.forward_cached(torch.zeros(1, 2, dtype=torch.long), cache)
    with pytest.raises(ConfigError, match="per_pass, shared"):
        KVCache(model.plan, "paged")


def test_old_call_signatures_still_work():
    model = Transformer(CONFIG).eval()
    x = torch.randn(1, 5, CONFIG.d_model)
    cos, sin = model.rope_tables(5, x.device, x.dtype)
    assert model.layers[0](x, cos, sin).shape == x.shape


@pytest.mark.parametrize("name", ["looped", "repeated", "grown"])
def test_fork_continues_each_row_prefix_like_the_full_forward(name):
    """`KVCache.fork(rows, length)`: row r continues row rows[r]'s first `length` tokens, exactly as a full forward."""
    model = plans()[name].eval()
    tokens = torch.randint(0, 50, (2, 12))
    tail = torch.randint(0, 50, (3, 4))
    with torch.no_grad():
        cache = KVCache(model.plan)
        model.forward_cached(tokens, cache)
        forked = cache.fork([1, 0, 1], length=7, extra=4)
        assert forked.position == 7 and forked.n_slots == cache.n_slots
        got = model.forward_cached(tail, forked)
        prefixes = tokens[[1, 0, 1], :7]
        want = model(torch.cat([prefixes, tail], dim=1))[:, 7:]
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert cache.position == 12  # the source cache is untouched
