"""Contract over every preset: the model built from it has exactly the closed-form parameter count."""

import pytest
import torch

from lightning_iter.model import PRESETS, ModelConfig, Transformer


def closed_form_parameters(c: ModelConfig) -> int:
    """LLaMA decoder: embedding (+ untied head), per layer q/o (d×d), k/v (d×kv), gate/up/down (d×ffn), two gains;
    plus the final norm gain."""
    kv = c.n_kv_heads * (c.d_model // c.n_heads)
    layer = 2 * c.d_model * c.d_model + 2 * c.d_model * kv + 3 * c.d_model * c.ffn_dim + 2 * c.d_model
    head = 0 if c.tie_embeddings else c.vocab_size * c.d_model
    return c.vocab_size * c.d_model + head + c.n_layers * layer + c.d_model


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize("tie", [True, False])
def test_preset_parameter_count_is_the_closed_form(name, tie):
    config = ModelConfig.from_name(name, tie_embeddings=tie)
    with torch.device("meta"):  # smollm-1.7b in fp32 would need ~7 GB
        model = Transformer(config)
    assert model.num_parameters() == sum(p.numel() for p in model.parameters())
    assert model.num_parameters() == closed_form_parameters(config)


def test_published_sizes():
    """The SmolLM presets have the sizes their names say (tied embeddings, as in seed 004 Table 2)."""
    millions = {
        name: closed_form_parameters(PRESETS[name]) / 1e6 for name in ("smollm-135m", "smollm-360m", "smollm-1.7b")
    }
    assert 134 < millions["smollm-135m"] < 136
    assert 361 < millions["smollm-360m"] < 363
    assert 1710 < millions["smollm-1.7b"] < 1712
