"""`lightning_iter lm_eval`: results under `runs/lm_eval/<run>/` (printed), `--help` lists the model arguments."""

from __future__ import annotations

import sys
from pathlib import Path

from lightning_iter.cli import main
from lightning_iter.commands.lm_eval import model_args, run_folder, with_output_path


def test_model_args_in_every_spelling_lm_eval_takes():
    assert model_args(["--model_args", "ckpt_path=a/b.ckpt,repeat=2:4x1"]) == {
        "ckpt_path": "a/b.ckpt",
        "repeat": "2:4x1",
    }
    assert model_args(["--model_args", "ckpt_path=x", "dtype=bfloat16", "--tasks", "t"]) == {
        "ckpt_path": "x",
        "dtype": "bfloat16",
    }
    assert model_args(['--model_args={"ckpt_path": "x"}']) == {"ckpt_path": "x"}


def test_default_output_folder_names_the_run_not_random_characters():
    assert run_folder({"ckpt_path": "runs/quickstart/checkpoints/last.ckpt"}) == Path("runs/lm_eval/quickstart")
    assert run_folder({"ckpt_path": "runs/q/checkpoints/last.ckpt", "repeat": "2:4x1"}) == Path(
        "runs/lm_eval/q-repeat-2-4x1"
    )
    assert run_folder({"ckpt_path": "hf:exports/tiny"}) == Path("runs/lm_eval/hf-tiny")
    argv, folder = with_output_path(
        ["--model", "lightning_iter", "--model_args", "ckpt_path=runs/a/checkpoints/last.ckpt"]
    )
    assert folder == Path("runs/lm_eval/a") and argv[-2:] == ["--output_path", "runs/lm_eval/a/results.json"]
    given = ["--model_args", "ckpt_path=x.ckpt", "--output_path", "mine"]
    assert with_output_path(given) == (given, Path("mine"))


def test_help_lists_the_model_arguments(capsys):
    assert main(["lm_eval", "--help"]) == 0
    out = capsys.readouterr().out
    for line in ("  ckpt_path: str | None = None", "  repeat: str | None = None", "  dtype: str | None = None"):
        assert line in out
    assert "  loaded" not in out  # Python-only argument
    assert "runs/lm_eval/<run>/results_<date>.json" in out
    assert "--num_fewshot" in out  # lm-eval's own options follow


def test_results_path_is_printed(tmp_path, monkeypatch, capsys):
    """lm-eval's run is replaced by one that writes where lm-eval writes for a `.json` output path."""
    import lm_eval.__main__

    seen = {}

    def fake_cli_evaluate():
        seen["argv"] = list(sys.argv)
        target = Path(sys.argv[sys.argv.index("--output_path") + 1])
        target.parent.mkdir(parents=True, exist_ok=True)
        (target.parent / "results_2026-01-01T00-00-00.json").write_text("{}")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(lm_eval.__main__, "cli_evaluate", fake_cli_evaluate)
    ckpt = "runs/tiny/checkpoints/last.ckpt"
    assert main(["lm_eval", "--model", "lightning_iter", "--model_args", f"ckpt_path={ckpt}", "--tasks", "x"]) == 0
    assert seen["argv"][:2] == ["lm-eval", "run"] and "--include_path" in seen["argv"]
    written = tmp_path / "runs" / "lm_eval" / "tiny" / "results_2026-01-01T00-00-00.json"
    assert f"lm_eval results: {written.resolve()}" in capsys.readouterr().out
