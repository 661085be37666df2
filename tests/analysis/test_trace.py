"""The analysis forward walks the plan exactly like the model and splits each layer into a_i and m_i."""

import torch

from lightning_iter.analysis.trace import run_from, run_layer, sublayers, trace
from tests.analysis.builders import small_model


def test_sublayers_sum_to_the_layer(tokens):
    model = small_model()
    h = model.embed(tokens)
    cos, sin = model.rope_tables(tokens.shape[1], tokens.device, h.dtype)
    layer = model.layers[1]
    a, m = sublayers(layer, h, cos, sin)
    torch.testing.assert_close(h + a + m, layer(h, cos, sin), rtol=1e-5, atol=1e-5)
    assert a.abs().sum() > 0 and m.abs().sum() > 0


def test_trace_matches_model_on_looped_and_repeated_plans(tokens):
    model = small_model(n_layers=3)
    for plan in [(0, 1, 2), (0, 1, 0, 1, 2), (2, 1, 0, 1)]:
        with model.using_plan(plan):
            tr = trace(model, tokens)
            assert tr.depth == len(plan) and len(tr.residuals) == len(plan) + 1
            torch.testing.assert_close(tr.residuals[-1], model.hidden_states(tokens), rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(tr.update(1), tr.attn[1] + tr.mlp[1])


def test_masks_erase_a_contribution_only_where_zero(tokens):
    model = small_model()
    tr = trace(model, tokens)
    keep = (torch.arange(tokens.shape[1]) > 7).float()
    out = run_layer(model.layers[0], tr.residuals[0], tr.cos, tr.sin, keep=keep)
    torch.testing.assert_close(out[:, :8], tr.residuals[0][:, :8])
    torch.testing.assert_close(out[:, 8:], tr.residuals[1][:, 8:], rtol=1e-5, atol=1e-5)
    final, later = run_from(model, tr.residuals[2], 2, tr, updates=True)
    torch.testing.assert_close(final, tr.residuals[-1], rtol=1e-5, atol=1e-5)
    assert len(later) == 1
