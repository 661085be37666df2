"""The suite writes JSON + PNG per analysis and an index page with the key numbers; the lens is reusable."""

import json

import pytest

from lightning_iter.analysis import ANALYSES, AnalysisOptions, Context, parse_analyses, run_analyses
from lightning_iter.analysis.choices import choice_accuracy
from lightning_iter.analysis.inputs import primitive_items
from lightning_iter.data import ByteTokenizer
from lightning_iter.errors import ConfigError
from tests.analysis.builders import small_model

FAST = dict(
    lens_steps=5,
    lens_tokens_per_step=32,
    n_items=2,
    shots=0,
    intervention_items=2,
    sizes=[1, 2],
    progress=False,
    block_size=2,
)


def test_all_writes_every_output_and_the_index(tokens, tmp_path):
    model = small_model(n_layers=4, plan=(0, 1, 2, 3, 2, 3))  # a repeated plan: everything is per effective depth
    ctx = Context(model, ByteTokenizer(), tokens, tmp_path, AnalysisOptions(**FAST), {"source": "constructed"})
    summary = run_analyses(ctx, parse_analyses("all"))
    assert list(summary["analyses"]) == list(ANALYSES)
    for result in summary["analyses"].values():
        for name in result["files"]:
            assert (tmp_path / name).stat().st_size > 0
    score = json.loads((tmp_path / "depth_score.json").read_text())
    assert len(score["weights"]) == 6 and 0 <= score["depth_score"] <= 5
    index = (tmp_path / "index.md").read_text()
    assert f"{score['depth_score']:.3g}" in index and "![depth_score.png](depth_score.png)" in index
    assert "| 5 | 3 |" in index  # the per-depth table names the unique layer at each depth
    assert not list(tmp_path.glob(".*tmp"))  # atomic writes leave no temporary files
    lens = json.loads((tmp_path / "tuned_lens.json").read_text())
    reused = Context(
        model,
        ByteTokenizer(),
        tokens,
        tmp_path / "again",
        AnalysisOptions(**{**FAST, "tuned_lens_path": str(tmp_path / "tuned_lens.safetensors")}),
    )
    again = run_analyses(reused, ["tuned_lens"])["analyses"]["tuned_lens"]
    assert again["per_depth"]["KL tuned"] == pytest.approx(lens["kl_tuned"])


def test_choice_accuracy_reads_the_final_depth_like_the_model():
    model = small_model(n_layers=2)
    items = primitive_items("assign_basic", 4, shots=1)
    assert all(0 <= item.answer < len(item.choices) == 5 for item in items)
    every = choice_accuracy(model, ByteTokenizer(), items, depths=[1, 2])
    assert set(every) == {1, 2} and every[2] == choice_accuracy(model, ByteTokenizer(), items)[2]


def test_bad_names_give_one_clear_error():
    assert parse_analyses("similarity,depth_score") == ["depth_score", "similarity"]
    with pytest.raises(ConfigError, match="depth_scor"):
        parse_analyses("depth_scor")


@pytest.mark.parametrize(
    ("field", "value"),
    [("batch_size", 0), ("n_boundaries", 0), ("repeat_extra", 0), ("n_items", -1), ("intervention_items", -2),
     ("shots", -1)],
)  # fmt: skip
def test_bad_work_sizes_are_one_error_naming_the_flag(field, value):
    """Before any work: batch_size 0 was a ValueError traceback, negative item counts were silently taken as 0."""
    with pytest.raises(ConfigError, match=f"^--{field}={value} is not allowed"):
        AnalysisOptions(**{field: value})


def test_final_depth_accuracy_equals_the_evaluation_suite():
    """Same items, same rule (lm-eval's `" " + choice`, no EOS): 40 items tell the two scoring rules apart."""
    from lightning_iter.eval.primitives import evaluate_primitives

    model = small_model(n_layers=2, seed=3)
    for task in ("copy_random", "assign_basic"):
        items = primitive_items(task, 40, shots=1)
        ours = choice_accuracy(model, ByteTokenizer(), items)[2]
        theirs = evaluate_primitives(
            model, ByteTokenizer(), tasks=[task], depths=[0], n_items=40, shots=1, progress=False
        )
        assert ours == pytest.approx(theirs["accuracy"][f"{task}@0"])
