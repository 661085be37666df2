"""One plan walker (`Transformer.walk`): forward, cached forward and analysis traces all run the same function."""

import pytest
import torch

from lightning_iter import kernels
from lightning_iter.analysis.trace import run_from, trace
from lightning_iter.errors import PlanError
from lightning_iter.model import ModelConfig, Transformer, loop_plan, repeat_block
from lightning_iter.model.cache import KVCache

SHAPE = dict(vocab_size=64, d_model=32, n_heads=4, n_kv_heads=2, ffn_dim=48, max_seq_len=32)
PLANS = {
    "plain": (4, None),
    "looped": (5, loop_plan(2, 3, encode=1, decode=2)),  # Loop(1-2×3-2): 0 1 2 1 2 1 2 3 4
    "repeated": (4, repeat_block((0, 1, 2, 3), 1, 3, 2)),
}


def build(name: str, kernels_choice: str = "torch") -> Transformer:
    torch.manual_seed(0)
    n_layers, plan = PLANS[name]
    config = ModelConfig.from_name("tiny", n_layers=n_layers, kernels=kernels_choice, **SHAPE)
    return Transformer(config, plan).eval()


def tokens(seq: int = 10) -> torch.Tensor:
    return torch.randint(0, SHAPE["vocab_size"], (2, seq), generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("name", list(PLANS))
def test_trace_ends_in_the_forward_hidden_state_bit_for_bit(name):
    model = build(name)
    x = tokens()
    with torch.no_grad():
        tr = trace(model, x)
        assert tr.depth == model.depth and len(tr.attn) == len(tr.mlp) == model.depth
        assert torch.equal(tr.residuals[-1], model.hidden_states(x))
        assert torch.equal(model.unembed(tr.residuals[-1]), model(x))
        final, _ = run_from(model, tr.residuals[0], 0, tr, keep=torch.ones(x.shape[1]))  # a no-op intervention
        assert torch.equal(final, tr.residuals[-1])


@pytest.mark.parametrize("name", ["plain", "looped"])
def test_trace_matches_the_forward_with_triton_kernels(name):
    model = build(name, "triton")
    x = tokens(6)
    before = dict(kernels._triton_utils.LAUNCHES)
    with torch.no_grad():
        final = trace(model, x).residuals[-1]
        assert kernels._triton_utils.LAUNCHES != before  # the interpreted Triton kernels really ran
        torch.testing.assert_close(final, model.hidden_states(x), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(final, build(name).hidden_states(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", list(PLANS))
def test_cached_forward_equals_the_uncached_forward(name):
    model = build(name)
    x = tokens(12)
    with torch.no_grad():
        full = model(x)
        assert torch.equal(model.forward_cached(x, KVCache(model.plan)), full)  # one chunk: the same arithmetic
        cache = KVCache(model.plan)
        pieces = [model.forward_cached(x[:, a:b], cache) for a, b in ((0, 4), (4, 5), (5, 12))]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-4)


def test_a_walk_resumed_from_any_depth_continues_exactly():
    model = build("looped")
    x = tokens()
    with torch.no_grad():
        h = model.embed(x)
        cos, sin = model.rope_tables(x.shape[1], x.device, h.dtype)
        steps = list(model.walk(h, cos, sin, parts=True))
        assert [s.depth for s in steps] == list(range(model.depth)) and [s.layer for s in steps] == list(model.plan)
        for s in steps:
            torch.testing.assert_close(s.out, s.h + s.attn + s.mlp, rtol=1e-5, atol=1e-5)
        middle = steps[3]
        (only,) = model.walk(middle.h, cos, sin, start=3, stop=4)
        assert torch.equal(only.out, middle.out)
        rest = list(model.walk(middle.out, cos, sin, start=4))
        assert torch.equal(rest[-1].out, steps[-1].out)


def test_masks_erase_contributions_only_where_zero():
    model = build("plain")
    x = tokens()
    keep = (torch.arange(x.shape[1]) > 4).float()
    with torch.no_grad():
        h = model.embed(x)
        cos, sin = model.rope_tables(x.shape[1], x.device, h.dtype)
        plain = list(model.walk(h, cos, sin, parts=True))
        (erased,) = model.walk(h, cos, sin, stop=1, keep={0: keep})
        assert torch.equal(erased.out[:, :5], h[:, :5]) and torch.equal(erased.out[:, 5:], plain[0].out[:, 5:])
        (no_attn,) = model.walk(h, cos, sin, stop=1, keep_attn={0: keep}, parts=True)
        assert torch.all(no_attn.attn[:, :5] == 0) and torch.equal(no_attn.attn[:, 5:], plain[0].attn[:, 5:])
        ones = list(model.walk(h, cos, sin, keep={1: torch.ones(x.shape[1])}, keep_attn={2: torch.ones(x.shape[1])}))
        assert torch.equal(ones[-1].out, plain[-1].out)


def test_bad_walk_ranges_are_rejected():
    from lightning_iter.errors import PlanError

    model = build("plain")
    h = torch.zeros(1, 2, SHAPE["d_model"])
    cos, sin = model.rope_tables(2, h.device, h.dtype)
    with pytest.raises(PlanError, match="walk stop=9 is not allowed"):
        next(model.walk(h, cos, sin, stop=9))
    with pytest.raises(PlanError, match=r"plan\[0\]=7 is out of range"):
        next(model.walk(h, cos, sin, plan=(7,)))


def test_the_walker_runs_compiled_layers():
    """Per-layer torch.compile compiles the layer's __call__: every walk (forward, trace) must go through it."""
    runs = []

    def backend(graph, example_inputs):
        def run(*args):
            runs.append(1)
            return graph.forward(*args)

        return run

    model = build("repeated")
    model.compile_layers(backend=backend)
    x = tokens()
    with torch.no_grad():
        eager = build("repeated").hidden_states(x)
        torch.testing.assert_close(model.hidden_states(x), eager)
        assert len(runs) == model.depth
        torch.testing.assert_close(trace(model, x).residuals[-1], eager)
        assert len(runs) == 2 * model.depth


def test_masks_for_depths_the_walk_does_not_run_are_rejected():
    model = Transformer(ModelConfig.from_name("tiny", n_layers=3, kernels="torch"))
    h = model.embed(torch.randint(0, 259, (1, 4)))
    cos, sin = model.rope_tables(4, h.device, h.dtype)
    with pytest.raises(PlanError, match=r"walk keep masks depths \[0\], outside the depths it runs \(1..2\)"):
        list(model.walk(h, cos, sin, start=1, keep={0: torch.zeros(4)}))
    assert len(list(model.walk(h, cos, sin, start=1, keep={0: None}))) == 2  # an absent mask is no mask
