"""`analyze --compare`: baseline, grown and looped checkpoints side by side, aligned by effective depth, with each
plan's block boundaries marked."""

import json

import pytest

from lightning_iter.analysis.compare import block_boundaries, compare_labels
from lightning_iter.cli import main
from lightning_iter.errors import ConfigError
from tests.helpers import write_checkpoint

RUNS = {
    "baseline": ({"name": "baseline"}, 3),
    "grown": ({"name": "lidas", "block_size": 1, "horizon": 2, "initial_depth": 2}, 3),
    "looped": ({"name": "loop", "layers": 1, "repeats": 3, "encode": 1, "decode": 1}, 3),
}
SMALL = [
    "--inputs", "heldout", "--n_examples", "4", "--seq_len", "16", "--lens_steps", "3",
    "--lens_tokens_per_step", "16", "--n_items", "0", "--sizes", "[1]", "--progress", "false",
    "--operations", "[skip]", "--intervention_items", "0", "--n_boundaries", "1",
]  # fmt: skip


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare")
    paths = []
    for name, (depth, n_layers) in RUNS.items():
        write_checkpoint(folder / f"{name}.ckpt", depth, n_layers=n_layers, max_steps=3)
        paths.append(str(folder / f"{name}.ckpt"))
    return paths


def test_three_checkpoints_side_by_side(checkpoints, tmp_path, capsys):
    out = tmp_path / "cmp"
    analyses = "depth_score,tuned_lens,contributions,future_effects,similarity,interventions"
    assert main(["analyze", "--compare", *checkpoints, "--analyses", analyses, "--out", str(out), *SMALL]) == 0
    result = json.loads((out / "compare.json").read_text())
    runs = {r["label"]: r for r in result["runs"]}
    assert list(runs) == ["baseline", "grown", "looped"]
    assert runs["baseline"]["kind"] == "baseline" and runs["baseline"]["boundaries"] == []
    assert runs["grown"]["kind"] == "grown" and runs["grown"]["boundaries"] == [1, 2]  # LIDAS blocks of 1
    assert runs["looped"]["plan"] == [0, 1, 1, 1, 2] and runs["looped"]["boundaries"] == [1, 2, 3, 4]
    assert set(result["figures"]) == set(analyses.split(","))
    for name in result["figures"].values():
        assert (out / name).stat().st_size > 0
    for label, run in runs.items():  # each run's own analysis, at its own effective depth
        score = json.loads((out / label / "depth_score.json").read_text())
        assert len(score["weights"]) == len(run["plan"])
    index = (out / "compare.md").read_text()
    assert "![compare_tuned_lens.png](compare_tuned_lens.png)" in index and "| `0 1 1 1 2` |" in index
    assert "compare.md" in capsys.readouterr().out


def test_bad_compare_input_is_one_line(checkpoints, tmp_path, capsys):
    base = ["analyze", "--analyses", "similarity", "--out", str(tmp_path), *SMALL]
    assert main([*base, "--compare", *checkpoints[:2], "--labels", "a"]) == 2
    assert "--labels" in capsys.readouterr().err
    assert main([*base, "--compare", checkpoints[0]]) == 2
    assert "at least two" in capsys.readouterr().err
    assert main([*base, "--compare", *checkpoints[:2], "--ckpt_path", checkpoints[0]]) == 2
    assert "exclusive" in capsys.readouterr().err
    assert main(base) == 2
    assert "--ckpt_path is required" in capsys.readouterr().err


def test_block_boundaries_come_from_the_plan_and_the_growth_block():
    assert block_boundaries((0, 1, 2, 3, 1, 2, 3, 4), None) == ((1, 4, 7), "looped")
    assert block_boundaries((0, 1, 2, 3, 4, 5), {"name": "midas", "block_size": 2}) == ((2, 4), "grown")
    assert block_boundaries((0, 1, 2, 3), {"name": "baseline", "block_size": 2}) == ((), "baseline")
    # a --repeat on a grown model: the loop's passes are what the plan shows
    assert block_boundaries((0, 1, 2, 1, 2), {"name": "lidas", "block_size": 1}) == ((1, 3), "looped")
    # a block of 4 run 7 times: its passes, not every shifted or doubled view of the loop (every depth)
    assert block_boundaries((0, 1) + (2, 3, 4, 5) * 7 + (6, 7), None) == (tuple(range(2, 31, 4)), "looped")


def test_labels_default_to_unique_stems():
    assert compare_labels(["a/last.ckpt", "b/last.ckpt", "hf:runs/x"], None) == ["0_last", "1_last", "x"]
    with pytest.raises(ConfigError, match="distinct"):
        compare_labels(["a", "b"], ["x", "x"])
    for bad in ("../up", "a/b", "..", ""):  # each label is a folder OUT/<label>/: nothing is written outside OUT
        with pytest.raises(ConfigError, match="--labels"):
            compare_labels(["a", "b"], ["x", bad])


def test_lens_flag_reuses_a_lens_and_refuses_one_of_another_shape(checkpoints, tmp_path, capsys):
    """`--lens FILE` (the compared runs share this file's checkpoints): same model reuses it, depth 5 refuses it."""
    run = ["analyze", "--analyses", "tuned_lens", *SMALL]
    assert main([*run, "--ckpt_path", checkpoints[0], "--out", str(tmp_path / "a")]) == 0
    lens = str(tmp_path / "a" / "tuned_lens.safetensors")
    assert main([*run, "--ckpt_path", checkpoints[0], "--lens", lens, "--out", str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "b" / "tuned_lens.json").read_text())["lens_path"] == lens
    capsys.readouterr()
    assert main([*run, "--ckpt_path", checkpoints[2], "--lens", lens, "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--lens=" in err[0] and "(5, 32, 32)" in err[0]


def test_accuracy_figures_side_by_side_in_the_layout_of_figs_8_to_11(tmp_path, monkeypatch):
    """With accuracies (Lambada and the primitive), --compare draws seed 004 Figs. 9-11 (a row per benchmark, a
    column per model, one figure per operation) and the Lambada early exit next to the primitive's (Fig. 8)."""
    from lightning_iter.analysis import AnalysisOptions, Context, run_analyses
    from lightning_iter.analysis import io as analysis_io
    from lightning_iter.analysis.compare import compare_runs, load_run
    from lightning_iter.analysis.inputs import DatasetInputs
    from lightning_iter.data import ByteTokenizer
    from tests.analysis.builders import small_model
    from tests.analysis.dataset_files import write_all

    data = write_all(tmp_path / "data", n=8)
    options = AnalysisOptions(
        progress=False, sizes=[1, 2], operations=["skip", "swap"], intervention_items=2, n_items=2, shots=0,
        lens_steps=2, lens_tokens_per_step=40,
    )  # fmt: skip
    runs = []
    for label, depth in (("three", 3), ("four", 4)):
        inputs = DatasetInputs(ByteTokenizer(), str(data), n_examples=2, seq_len=20)
        empty = inputs.rows("x", "gsm8k")[:0]  # every input comes from the datasets
        ctx = Context(small_model(n_layers=depth), ByteTokenizer(), empty, tmp_path / label, options, datasets=inputs)
        run_analyses(ctx, ["tuned_lens", "interventions"])
        runs.append(load_run(label, tmp_path / label))
    drawn = {}
    save = analysis_io.save_figure
    monkeypatch.setattr(
        analysis_io, "save_figure", lambda fig, path: drawn.setdefault(path.name, fig) and save(fig, path)
    )
    result = compare_runs(runs, tmp_path / "cmp")
    assert {"interventions_skip", "interventions_swap"} <= set(result["figures"])
    grid = drawn["compare_interventions_swap.png"].axes
    titles = [ax.get_title() for ax in grid]
    assert len(titles) == 4  # 2 benchmarks x 2 models
    assert titles[0].startswith("three: swap on lambada") and titles[1].startswith("four: swap on lambada")
    assert titles[2].startswith("three: swap on assign_math@0") and titles[3].startswith("four: swap on assign_math@0")
    lens_titles = [ax.get_title() for ax in drawn["compare_tuned_lens.png"].axes]
    assert "Lambada early exit / final" in lens_titles and "early-exit accuracy / final" in lens_titles
