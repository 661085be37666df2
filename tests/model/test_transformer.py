"""The layer-plan transformer: shapes, plans, attention/RoPE semantics, presets and FLOPs."""

import math

import pytest
import torch
import torch.nn.functional as F

from lightning_iter.errors import ConfigError, PlanError
from lightning_iter.model import ModelConfig, Transformer, training_flops_per_token
from lightning_iter.model.layers import apply_rope


def tiny(**overrides) -> Transformer:
    torch.manual_seed(0)
    return Transformer(ModelConfig.from_name("tiny", **overrides))


def tokens(batch=2, seq=12, vocab=259):
    return torch.randint(0, vocab, (batch, seq), generator=torch.Generator().manual_seed(1))


def test_forward_shape_and_default_plan():
    model = tiny(n_layers=4)
    assert model.plan == (0, 1, 2, 3)
    assert model(tokens()).shape == (2, 12, model.config.vocab_size)


def test_using_plan_runs_other_plan_and_restores():
    model = tiny(n_layers=4).eval()
    x = tokens()
    base = model(x)
    with model.using_plan((0, 1, 2, 3, 2, 3)) as m:
        assert m.plan == (0, 1, 2, 3, 2, 3)
        repeated = m(x)
    assert model.plan == (0, 1, 2, 3)
    assert not torch.allclose(base, repeated)
    torch.testing.assert_close(model(x), base)


def test_plan_restored_after_exception():
    model = tiny(n_layers=2)
    with pytest.raises(RuntimeError):
        with model.using_plan((1, 0)):
            raise RuntimeError("boom")
    assert model.plan == (0, 1)


def test_repeated_plan_equals_physically_duplicated_layers():
    model = tiny(n_layers=4).eval()
    plan = (0, 1, 2, 1, 2, 3)
    x = tokens()
    with model.using_plan(plan):
        expected = model(x)
    duplicate = tiny(n_layers=6).eval()
    duplicate.load_state_dict(model.state_dict(), strict=False)
    for position, index in enumerate(plan):
        duplicate.layers[position].load_state_dict(model.layers[index].state_dict())
    torch.testing.assert_close(duplicate(x), expected)


@pytest.mark.parametrize(
    "plan, message",
    [
        ((0, 8), r"plan\[1\]=8 is out of range: the model has 8 unique layers \(allowed indices 0..7\)"),
        ((-1,), r"plan\[0\]=-1 is out of range"),
        ((), "needs at least one layer"),
        ((0, 1.5), r"plan\[1\]=1.5 is not allowed"),
    ],
)
def test_bad_plans_are_rejected(plan, message):
    model = tiny()
    with pytest.raises(PlanError, match=message):
        model.plan = plan
    assert model.plan == tuple(range(8))


def test_tied_embeddings_share_the_output_projection():
    model = tiny(n_layers=1)
    assert model.lm_head is None
    hidden = torch.randn(1, 3, model.config.d_model)
    torch.testing.assert_close(model.unembed(hidden), model.norm(hidden) @ model.embed_tokens.weight.T)
    untied = tiny(n_layers=1, tie_embeddings=False)
    assert untied.lm_head is not None


def _reference_attention(attn, x, cos, sin):
    """Explicit causal GQA: each KV head serves n_heads / n_kv_heads query heads."""
    b, t, _ = x.shape
    q = attn.q_proj(x).view(b, t, attn.n_heads, attn.head_dim).transpose(1, 2)
    k = attn.k_proj(x).view(b, t, attn.n_kv_heads, attn.head_dim).transpose(1, 2)
    v = attn.v_proj(x).view(b, t, attn.n_kv_heads, attn.head_dim).transpose(1, 2)
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    group = attn.n_heads // attn.n_kv_heads
    k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    scores = q @ k.transpose(-1, -2) / math.sqrt(attn.head_dim)
    mask = torch.ones(t, t, dtype=torch.bool).triu(1)
    out = scores.masked_fill(mask, float("-inf")).softmax(-1) @ v
    return attn.o_proj(out.transpose(1, 2).reshape(b, t, -1))


def test_grouped_query_attention_matches_explicit_reference():
    model = tiny(n_layers=1, n_heads=4, n_kv_heads=2)
    attn = model.layers[0].self_attn
    x = torch.randn(2, 7, model.config.d_model)
    cos, sin = model.rope_tables(7, x.device, x.dtype)
    torch.testing.assert_close(attn(x, cos, sin), _reference_attention(attn, x, cos, sin))


def test_causality_future_tokens_do_not_change_past_logits():
    model = tiny(n_layers=2).eval()
    x = tokens(seq=10)
    y = x.clone()
    y[:, 6:] = (y[:, 6:] + 1) % 259
    torch.testing.assert_close(model(x)[:, :6], model(y)[:, :6])


def test_rope_scores_depend_only_on_relative_position():
    model = tiny(n_layers=1)
    cos, sin = model.rope_tables(20, torch.device("cpu"), torch.float32)
    q = torch.randn(model.config.head_dim)
    k = torch.randn(model.config.head_dim)

    def score(i, j):
        qi = apply_rope(q.view(1, 1, 1, -1), cos[i], sin[i])
        kj = apply_rope(k.view(1, 1, 1, -1), cos[j], sin[j])
        return (qi * kj).sum()

    torch.testing.assert_close(score(5, 2), score(15, 12))
    torch.testing.assert_close(score(3, 3), (q * k).sum())


def test_rope_theta_is_configurable():
    a = tiny(n_layers=1).rope_tables(8, torch.device("cpu"), torch.float32)[0]
    b = tiny(n_layers=1, rope_theta=500.0).rope_tables(8, torch.device("cpu"), torch.float32)[0]
    assert not torch.allclose(a, b)


@pytest.mark.parametrize(
    "name, shape, params",
    [
        ("smollm-360m", (32, 960, 2560, 15, 5), 362e6),
        ("smollm-1.7b", (24, 2048, 8192, 32, 32), 1.71e9),
        ("smollm-135m", (30, 576, 1536, 9, 3), 134.5e6),
    ],
)
def test_presets_match_the_seeds_table(name, shape, params):
    config = ModelConfig.from_name(name)
    assert (config.n_layers, config.d_model, config.ffn_dim, config.n_heads, config.n_kv_heads) == shape
    assert config.tie_embeddings and config.rope_theta == 10_000
    with torch.device("meta"):
        model = Transformer(config)
    assert model.num_parameters() == pytest.approx(params, rel=0.01)


def test_from_name_errors_name_the_field():
    with pytest.raises(ConfigError, match="model preset 'huge' is unknown: choose one of"):
        ModelConfig.from_name("huge")
    with pytest.raises(ConfigError, match="model override 'layers' is not a model field"):
        ModelConfig.from_name("tiny", layers=3)
    with pytest.raises(ConfigError, match="model.n_kv_heads=3 does not divide model.n_heads=4"):
        ModelConfig.from_name("tiny", n_kv_heads=3)
    with pytest.raises(ConfigError, match="model.kernels='cuda' is not allowed"):
        ModelConfig.from_name("tiny", kernels="cuda")
    with pytest.raises(ConfigError, match="model.n_layers=0 is not allowed"):
        ModelConfig.from_name("tiny", n_layers=0)


@pytest.mark.parametrize(
    "name, batch_tokens, table7", [("smollm-360m", 2**20, 613527.488), ("smollm-1.7b", 2**21, 4813222.102)]
)
def test_training_flops_reproduce_table7_standard_rows(name, batch_tokens, table7):
    config = ModelConfig.from_name(name)
    petaflops = training_flops_per_token(config, config.n_layers, 2048) * batch_tokens * 200_000 / 1e15
    assert petaflops == pytest.approx(table7, rel=1e-6)


def test_loss_is_cross_entropy_of_logits():
    model = tiny(n_layers=1)
    x, y = tokens(), tokens()
    expected = F.cross_entropy(model(x).reshape(-1, model.config.vocab_size), y.reshape(-1))
    torch.testing.assert_close(model.loss(x, y), expected)


def test_rope_frequencies_stay_fp32_when_the_model_is_cast():
    model = Transformer(ModelConfig.from_name("tiny", n_layers=1)).to(torch.bfloat16)
    assert model.rotary.inv_freq.dtype == torch.float32
    cos, _ = model.rope_tables(4, torch.device("cpu"), torch.bfloat16)
    assert cos.dtype == torch.bfloat16
