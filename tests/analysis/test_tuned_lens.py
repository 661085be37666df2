"""The tuned lens with the tuned-lens library's recipe, on a trained tiny model: identity at the final depth, better
than the logit lens in the middle, gradient accumulation exact, lenses saved with their recipe and refused for
another model shape."""

import json

import pytest
import torch
import torch.nn.functional as F

from lightning_iter.analysis.tuned_lens import (
    LensRecipe,
    TunedLens,
    lens_info,
    lens_metrics,
    normalised_accuracy,
    recipe_path,
    train_tuned_lens,
)
from lightning_iter.errors import ConfigError
from lightning_iter.model import ModelConfig, Transformer

VOCAB, SEQ = 64, 24
FAST = LensRecipe(steps=60, tokens_per_step=8 * SEQ)


def progressions(n: int, seed: int) -> torch.Tensor:
    """[n, SEQ] arithmetic progressions mod VOCAB (random start and stride): learnable in a few hundred steps."""
    g = torch.Generator().manual_seed(seed)
    start = torch.randint(0, VOCAB, (n, 1), generator=g)
    stride = torch.randint(1, 6, (n, 1), generator=g)
    return (start + stride * torch.arange(SEQ)) % VOCAB


def tiny(n_layers: int = 4, seed: int = 0) -> Transformer:
    torch.manual_seed(seed)
    config = ModelConfig.from_name(
        "tiny", d_model=32, n_heads=2, n_kv_heads=1, ffn_dim=64, max_seq_len=32, n_layers=n_layers, vocab_size=VOCAB
    )
    return Transformer(config)


@pytest.fixture(scope="session")
def trained() -> Transformer:
    """A 4-layer tiny model after 300 Adam steps on progressions (about 3 s on one CPU thread; once per session)."""
    model = tiny()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(300):
        batch = progressions(16, seed=1000 + step)
        loss = F.cross_entropy(model(batch[:, :-1]).flatten(0, 1), batch[:, 1:].flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < 2.0  # far below chance (ln 64 = 4.16): the model has learned something
    return model.eval()


def test_trained_lens_is_the_identity_at_the_final_depth_and_beats_the_logit_lens(trained):
    lens, log = train_tuned_lens(trained, progressions(64, seed=1), FAST)
    history = log["loss_history"]
    assert len(history) == FAST.steps and history[-1] < 0.5 * history[0]
    h = torch.randn(3, 5, 32)
    assert torch.equal(lens(trained.depth, h), h)  # T_L is exactly the identity: h_L is the final norm's input
    assert not lens.weight[-1].any() and not lens.bias[-1].any()
    metrics = lens_metrics(trained, lens, progressions(16, seed=2))
    assert metrics["kl_tuned"][-1] == pytest.approx(0.0, abs=1e-6) and metrics["top5_tuned"][-1] == 1.0
    middle = trained.depth // 2  # exit after depth 2 of 4
    assert metrics["kl_tuned"][middle - 1] < 0.5 * metrics["kl_logit"][middle - 1]
    assert metrics["top5_tuned"][middle - 1] > metrics["top5_logit"][middle - 1]


def test_the_default_recipe_is_the_libraries():
    recipe = LensRecipe()
    assert (recipe.steps, recipe.tokens_per_step, recipe.lr_scale, recipe.momentum) == (250, 2**18, 1.0, 0.9)
    assert (recipe.weight_decay, recipe.warmup_steps, recipe.clip) == (1e-3, 0, 1.0)
    assert recipe.lr == pytest.approx(0.1)  # lr_scale * (1 - momentum), the library's SGD rule
    assert [recipe.factor(s) for s in (0, 125, 249)] == pytest.approx([1.0, 0.5, 1 / 250])  # linear decay to 0
    warm = LensRecipe(steps=10, warmup_steps=4)
    assert [warm.factor(s) for s in range(5)] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0])
    assert warm.factor(9) == pytest.approx(1 / 6)


@pytest.mark.parametrize(
    ("field", "value"),
    [("steps", 0), ("tokens_per_step", 0), ("momentum", 1.0), ("lr_scale", 0.0), ("clip", -1.0), ("warmup_steps", 9)],
)
def test_bad_recipe_values_name_the_flag(field, value):
    with pytest.raises(ConfigError, match=f"--lens_{field}"):
        LensRecipe(**{"steps": 9, field: value})


def test_gradient_accumulation_equals_one_large_batch():
    """Micro-batches of 2 rows accumulate to exactly the step of one 8-row batch (streaming changes nothing)."""
    model, rows = tiny(n_layers=3, seed=4).eval(), progressions(32, seed=5)
    recipe = LensRecipe(steps=4, tokens_per_step=8 * SEQ)
    small, log = train_tuned_lens(model, rows, recipe, batch_size=2)
    large, _ = train_tuned_lens(model, rows, recipe, batch_size=8)
    assert log["rows_per_step"] == 8 and log["tokens_seen"] == 4 * 8 * SEQ and log["passes"] == 1.0
    assert small.weight.abs().max() > 0
    torch.testing.assert_close(small.weight, large.weight, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(small.bias, large.bias, rtol=1e-4, atol=1e-6)


def test_metrics_on_prompts_of_different_lengths_are_token_weighted():
    model = tiny(n_layers=2, seed=6).eval()
    lens = TunedLens(model.depth, 32, model.plan)
    with torch.no_grad():
        lens.weight[0].normal_(0, 0.1)
    long, short = progressions(4, seed=7), progressions(2, seed=8)[:, :8]
    mixed = lens_metrics(model, lens, [*long, *short])
    a, b = lens_metrics(model, lens, long), lens_metrics(model, lens, short)
    for name, values in mixed.items():
        expected = [(4 * SEQ * x + 2 * 8 * y) / (4 * SEQ + 2 * 8) for x, y in zip(a[name], b[name])]
        assert values == pytest.approx(expected), name


def test_normalised_accuracy_divides_by_the_final_depth():
    assert normalised_accuracy([0.1, 0.2, 0.4]) == pytest.approx([0.25, 0.5, 1.0])
    assert normalised_accuracy([0.3, 0.0]) == [None, None]  # undefined when the final depth scores nothing


def test_lens_saved_with_its_recipe_reloads_and_is_refused_for_another_shape(trained, tmp_path):
    lens, log = train_tuned_lens(trained, progressions(8, seed=9), LensRecipe(steps=2, tokens_per_step=SEQ))
    path = lens.save(tmp_path / "tuned_lens.safetensors", lens_info(trained, FAST, log, "progressions"))
    info = json.loads(recipe_path(path).read_text())
    assert info["recipe"]["momentum"] == 0.9 and info["recipe"]["optimizer"] == "SGD (Nesterov)"
    assert info["model"]["depth"] == 4 and info["model"]["d_model"] == 32 and info["data"] == "progressions"
    torch.testing.assert_close(TunedLens.load(path, trained).weight, lens.weight)
    with pytest.raises(ConfigError, match=r"--lens=.*\(4, 32, 32\).*\(3, 32, 32\)") as err:
        TunedLens.load(path, tiny(n_layers=3))
    assert "\n" not in str(err.value)
    with pytest.warns(UserWarning, match="unembed_sha256"):  # same shape, other weights: usable, but said
        TunedLens.load(path, tiny(seed=11))
    (tmp_path / "junk.safetensors").write_text("not a lens")
    with pytest.raises(ConfigError, match="junk.safetensors is not a safetensors file"):
        TunedLens.load(tmp_path / "junk.safetensors", trained)


def test_the_analysis_trains_on_fineweb_edu_and_measures_on_gsm8k_prompts(tmp_path):
    """The papers' inputs: lens trained on FineWeb-Edu text (parquet), KL / top-5 on GSM8K prompts (jsonl)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lightning_iter.analysis import AnalysisOptions, Context, run_analyses
    from lightning_iter.analysis.inputs import DatasetInputs
    from lightning_iter.data import ByteTokenizer
    from tests.analysis.builders import small_model

    fineweb, gsm8k = tmp_path / "fineweb_edu.parquet", tmp_path / "gsm8k.jsonl"
    pq.write_table(
        pa.table({"text": [f"Document {k} explains how plants grow in spring." for k in range(12)]}), fineweb
    )
    gsm8k.write_text(
        "\n".join(json.dumps({"question": f"Tom has {k} apples. How many?", "answer": f"#### {k}"}) for k in range(3))
    )
    model = small_model(n_layers=3)
    datasets = DatasetInputs(ByteTokenizer(), files={"fineweb_edu": str(fineweb), "gsm8k": str(gsm8k)}, seq_len=16)
    options = AnalysisOptions(lens_steps=4, lens_tokens_per_step=32, n_items=0, progress=False)
    tokens = torch.zeros(2, 16, dtype=torch.long)  # the held-out rows: not read by this analysis
    ctx = Context(model, ByteTokenizer(), tokens, tmp_path / "out", options, datasets=datasets)
    run_analyses(ctx, ["tuned_lens"])
    result = json.loads((tmp_path / "out" / "tuned_lens.json").read_text())
    assert result["data"]["fineweb_edu"]["path"] == str(fineweb) and result["data"]["gsm8k"]["path"] == str(gsm8k)
    assert result["eval_examples"] == 3  # the three GSM8K prompts (fewer than the 20 asked for)
    assert result["train_examples"] == 8 and result["tokens_per_step"] == 32  # 4 steps x 2 rows of 16, no reuse
    assert result["passes"] == 1.0 and len(result["kl_tuned"]) == 3
    saved = json.loads((tmp_path / "out" / "tuned_lens.recipe.json").read_text())
    assert saved["data"]["fineweb_edu"]["path"] == str(fineweb) and saved["recipe"]["steps"] == 4
