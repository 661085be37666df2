"""`lightning_iter analyze`: a fit checkpoint (grown, with --repeat) gets every analysis, an index, a reusable lens."""

import json

import pytest

from lightning_iter.cli import main
from tests.helpers import write_checkpoint

SMALL_RUN = [
    "--inputs",  # the run's own held-out split (the default reads the papers' datasets: tests/analysis/test_inputs.py)
    "heldout",
    "--n_examples",
    "4",
    "--seq_len",
    "16",
    "--lens_steps",
    "5",
    "--lens_tokens_per_step",
    "32",
    "--n_items",
    "2",
    "--shots",
    "0",
    "--sizes",
    "[1, 2]",
    "--progress",
    "false",
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "grown.ckpt"
    write_checkpoint(
        path, {"name": "lidas", "block_size": 1, "horizon": 2, "initial_depth": 2}, n_layers=3, max_steps=3
    )
    return path


def test_all_on_a_repeated_checkpoint(checkpoint, tmp_path, capsys):
    out = tmp_path / "analysis"
    assert (
        main(
            [
                "analyze",
                "--ckpt_path",
                str(checkpoint),
                "--repeat",
                "1:3x1",
                "--analyses",
                "all",
                "--out",
                str(out),
                *SMALL_RUN,
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["plan"] == [0, 1, 2, 1, 2] and summary["data"] == {"n_examples": 4, "seq_len": 16}
    index = (out / "index.md").read_text()
    assert "Depth score" in index and "plan `0 1 2 1 2`" in index
    for name in (
        "depth_score.png",
        "tuned_lens_kl.png",
        "interventions_loss.png",
        "local_future.png",
        "contributions.png",
        "similarity.png",
        "tuned_lens.safetensors",
    ):
        assert (out / name).is_file(), name
    assert str(out.resolve()) in capsys.readouterr().out
    again = tmp_path / "again"
    assert (
        main(
            [
                "analyze",
                "--ckpt_path",
                str(checkpoint),
                "--repeat",
                "1:3x1",
                "--analyses",
                "tuned_lens",
                "--tuned_lens_path",
                str(out / "tuned_lens.safetensors"),
                "--out",
                str(again),
                *SMALL_RUN,
            ]
        )
        == 0
    )
    first, second = (json.loads((d / "tuned_lens.json").read_text()) for d in (out, again))
    assert second["kl_tuned"] == pytest.approx(first["kl_tuned"]) and second["steps"] == 0


def test_bad_input_is_one_line(checkpoint, tmp_path, capsys):
    assert main(["analyze", "--ckpt_path", str(checkpoint), "--analyses", "depth_scor", "--out", str(tmp_path)]) == 2
    assert "depth_scor" in capsys.readouterr().err
    assert (
        main(
            [
                "analyze",
                "--ckpt_path",
                str(checkpoint),
                "--analyses",
                "tuned_lens",
                "--out",
                str(tmp_path),
                "--tuned_lens_path",
                str(tmp_path / "none.safetensors"),
                *SMALL_RUN,
            ]
        )
        == 2
    )
    assert "does not exist" in capsys.readouterr().err
    assert (
        main(
            [
                "analyze",
                "--ckpt_path",
                str(checkpoint),
                "--analyses",
                "depth_score",
                "--out",
                str(tmp_path),
                *SMALL_RUN,
                "--boundaries",
                "[40]",
            ]
        )
        == 2
    )
    assert "--boundaries" in capsys.readouterr().err
