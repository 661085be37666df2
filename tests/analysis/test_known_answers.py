"""Constructed models whose analysis results are known in advance (issue 6, "Must show")."""

import torch

from lightning_iter.analysis.contributions import sublayer_contributions
from lightning_iter.analysis.effects import depth_score, local_effects, skip_effects
from lightning_iter.analysis.interventions import block_interventions, intervene
from lightning_iter.analysis.similarity import block_similarity
from lightning_iter.analysis.tuned_lens import LensRecipe, TunedLens, lens_metrics, train_tuned_lens
from tests.analysis.builders import copy_layer, silence, small_model


def test_a_layer_with_zero_output_projections_contributes_nothing(tokens):
    model = small_model(n_layers=4)
    silence(model, 2)
    for mode in ("future", "current"):
        skips = skip_effects(model, tokens, mode, boundaries=[3, 9])
        assert torch.all(skips["dout"][:, 2] == 0)
        assert torch.all(skips["propagated"][2, 3:] == 0)
        assert skips["dout"][:, 0].min() > 0  # a working layer does move the output
        local = local_effects(model, tokens, mode, boundaries=[3, 9])
        assert torch.all(local[2, 3:] == 0)
        assert local[0, 1:].max() > 0
    score = depth_score(skip_effects(model, tokens, "future", boundaries=[3, 9])["dout"])
    assert score["weights"][2] == 0
    contributions = sublayer_contributions(model, tokens)
    assert contributions["attn_relative"][2] == 0 and contributions["layer_relative"][2] == 0
    result = block_interventions(model, tokens, sizes=[1], operations=["skip"])
    assert abs(result["results"]["skip"][1][2]["loss_delta"]) < 1e-6
    assert result["results"]["skip"][1][1]["loss_delta"] != 0


def test_depth_score_is_the_expected_index_of_the_normalised_effect():
    dout = torch.tensor([[1.0, 0.0, 3.0], [1.0, 0.0, 1.0]])  # mean [1, 0, 2] -> weights [1/3, 0, 2/3]
    result = depth_score(dout)
    torch.testing.assert_close(torch.tensor(result["weights"]), torch.tensor([1 / 3, 0.0, 2 / 3]))
    assert abs(result["depth_score"] - 4 / 3) < 1e-6 and abs(result["depth_score_normalized"] - 2 / 3) < 1e-6


def test_duplicated_blocks_have_similarity_one():
    model = small_model(n_layers=6)
    copy_layer(model, 0, 2)
    copy_layer(model, 1, 3)
    sim = torch.tensor(block_similarity(model, block_size=2)["similarity"])
    assert abs(sim[0, 1] - 1) < 1e-5
    assert sim[0, 2] < 0.5 and sim[1, 2] < 0.5  # independent random blocks are far from identical
    with model.using_plan((4, 5, 4, 5)):  # a looped plan runs the same weights twice
        looped = block_similarity(model, block_size=2)
    assert looped["blocks"] == [[0, 1], [2, 3]] and abs(looped["similarity"][0][1] - 1) < 1e-5


def test_swapping_identical_layers_changes_nothing(tokens):
    model = small_model(n_layers=4)
    copy_layer(model, 1, 2)
    assert intervene((0, 1, 2, 3), "swap", 1, 1) == (0, 2, 1, 3)
    result = block_interventions(model, tokens, sizes=[1], operations=["swap"])
    assert abs(result["results"]["swap"][1][1]["loss_delta"]) < 1e-6
    assert abs(result["results"]["swap"][1][0]["loss_delta"]) > 1e-4  # swapping different layers does matter
    base = model(tokens)
    with model.using_plan((0, 2, 1, 3)):
        torch.testing.assert_close(model(tokens), base)


def test_tuned_lens_of_the_last_layer_is_the_identity(tokens, tmp_path):
    model = small_model(n_layers=3)
    lens, log = train_tuned_lens(model, tokens, LensRecipe(steps=30, tokens_per_step=64))
    history = log["loss_history"]
    assert history[-1] < history[0]
    assert lens.weight[-1].abs().max() < 1e-5 and lens.bias[-1].abs().max() < 1e-5
    assert lens.weight[0].abs().max() > 1e-3  # earlier translators did move
    metrics = lens_metrics(model, lens, tokens)
    assert metrics["kl_tuned"][-1] < 1e-5 and metrics["top5_tuned"][-1] == 1.0
    assert metrics["kl_tuned"][0] < metrics["kl_logit"][0]
    reloaded = TunedLens.load(lens.save(tmp_path / "lens.safetensors"), model)
    torch.testing.assert_close(reloaded.weight, lens.weight)
