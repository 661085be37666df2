"""Data flags on any checkpoint, `hf:DIR` included: every analysis reads the papers' datasets from local files,
`eval --heldout` and `repeat_sweep`'s nll read held-out text from a file; a missing file is one line."""

import json

import pytest

from lightning_iter.analysis import ANALYSES
from lightning_iter.cli import main
from tests.analysis.dataset_files import records, write_all, write_dataset
from tests.helpers import write_checkpoint

FAST = [
    "--n_examples",
    "3",
    "--seq_len",
    "24",
    "--lens_steps",
    "3",
    "--lens_tokens_per_step",
    "48",
    "--n_items",
    "2",
    "--intervention_items",
    "3",
    "--shots",
    "0",
    "--sizes",
    "[1, 2]",
    "--progress",
    "false",
]


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    """An `lightning_iter export` of a tiny grown checkpoint: it records no data module."""
    root = tmp_path_factory.mktemp("hf")
    ckpt = root / "grown.ckpt"
    write_checkpoint(
        ckpt, {"name": "lidas", "block_size": 1, "horizon": 2, "initial_depth": 2}, n_layers=3, max_steps=3
    )
    assert main(["export", "--ckpt_path", str(ckpt), "--out", str(root / "export")]) == 0
    return root / "export"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_all(tmp_path_factory.mktemp("data"), n=8)


@pytest.mark.parametrize("analysis", list(ANALYSES))
def test_every_analysis_runs_on_an_hf_export_with_the_papers_datasets(analysis, hf_dir, data, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["analyze", "--ckpt_path", f"hf:{hf_dir}", "--analyses", analysis, "--data", str(data), "--out", str(out)]
    assert main([*args, *FAST]) == 0
    summary = json.loads((out / "summary.json").read_text())
    used = summary["inputs"][analysis]
    expected = {
        "depth_score": {"gsm8k", "math", "mquake"},
        "future_effects": {"gsm8k"},
        "contributions": {"gsm8k"},
        "interventions": {"gsm8k", "lambada"},
        "tuned_lens": {"gsm8k", "fineweb_edu", "lambada"},
        "similarity": set(),
    }[analysis]
    assert set(used) == expected
    for dataset, entry in used.items():
        assert entry["path"].startswith(str(data / dataset)) and entry["from"] == "--data"
    printed = capsys.readouterr().out
    if expected:
        assert f"inputs of {analysis}: " in printed
    if analysis == "depth_score":
        score = json.loads((out / "depth_score.json").read_text())
        assert score["index_base"] == 0 and set(score["datasets"]) == {"gsm8k", "math", "mquake"}
        assert score["depth_score"] == score["datasets"]["gsm8k"]["depth_score"]
    if analysis == "tuned_lens":  # early exit on Lambada through the lens, per depth (seed 004 Fig. 8)
        lens = json.loads((out / "tuned_lens.json").read_text())
        assert len(lens["early_exit_lambada"]) == 3 and lens["early_exit_lambada_items"] == 2
    if analysis == "interventions":
        result = json.loads((out / "interventions.json").read_text())
        assert set(result["base"]["accuracy"]) == {"lambada", "assign_math@0"}
        assert all((out / f"interventions_{op}.png").is_file() for op in ("skip", "swap", "reverse", "repeat"))


MISSING = {  # analysis -> (the dataset it needs that the folder lacks, an extra flag)
    "depth_score": ("math", []),
    "future_effects": ("gsm8k", []),
    "contributions": ("gsm8k", []),
    "interventions": ("lambada", []),
    "tuned_lens": ("fineweb_edu", []),
}


@pytest.mark.parametrize("analysis", list(MISSING))
def test_a_missing_dataset_is_one_line_naming_analysis_path_and_flag(analysis, hf_dir, data, tmp_path, capsys):
    dataset, extra = MISSING[analysis]
    partial = tmp_path / "partial"
    for name in ("gsm8k", "math", "mquake", "fineweb_edu", "lambada"):
        if name != dataset:
            write_dataset(partial, name, ".jsonl")
    out = tmp_path / "out"
    args = ["analyze", "--ckpt_path", f"hf:{hf_dir}", "--analyses", analysis, "--data", str(partial), "--out", str(out)]
    assert main([*args, *FAST, *extra]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1  # one line, no traceback
    err = errors[0]
    assert err.startswith(f"lightning_iter: error: {analysis} needs {dataset} data")
    assert str(partial / f"{dataset}.jsonl") in err and f"--{dataset} FILE" in err
    assert not out.exists()  # checked before any work


def test_per_dataset_files_override_the_folder(hf_dir, data, tmp_path):
    moved = write_dataset(tmp_path / "elsewhere", "gsm8k", ".json", records("gsm8k", 5))
    out = tmp_path / "out"
    args = ["analyze", "--ckpt_path", f"hf:{hf_dir}", "--analyses", "depth_score", "--data", str(tmp_path / "none")]
    assert main([*args, "--gsm8k", str(moved), "--depth_score_sets", "[gsm8k]", "--out", str(out), *FAST]) == 0
    used = json.loads((out / "depth_score.json").read_text())["inputs"]
    assert used == {"gsm8k": {"path": str(moved), "from": "--gsm8k", "rows": 3, "seq_len": 24}}


def test_heldout_inputs_on_an_hf_export_read_a_file(hf_dir, data, tmp_path, capsys):
    args = ["analyze", "--ckpt_path", f"hf:{hf_dir}", "--analyses", "depth_score", "--inputs", "heldout", *FAST]
    assert main([*args, "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "does not record its data module" in err and "--heldout_data FILE" in err
    text = str(data / "fineweb_edu.parquet")
    assert main([*args, "--out", str(tmp_path / "b"), "--heldout_data", text]) == 0
    score = json.loads((tmp_path / "b" / "depth_score.json").read_text())
    assert score["inputs"] == {"heldout": {"rows": 3, "seq_len": 24}} and score["dataset"] == "heldout"


def test_eval_heldout_and_repeat_sweep_nll_read_a_file_on_hf(hf_dir, data, tmp_path, capsys):
    base = ["--ckpt_path", f"hf:{hf_dir}"]
    assert main(["eval", *base, "--tasks", "none", "--heldout", "true", "--out", str(tmp_path / "e")]) == 2
    assert "--heldout_data FILE" in capsys.readouterr().err
    text = str(data / "fineweb_edu.parquet")
    eval_args = ["eval", *base, "--tasks", "none", "--heldout", "true", "--heldout_data", text]
    assert main([*eval_args, "--out", str(tmp_path / "e")]) == 0
    heldout = json.loads((tmp_path / "e" / "results.json").read_text())["heldout"]
    assert heldout["tokens"] > 0 and heldout["data"] == text
    assert main(["eval", *base, "--tasks", "none", "--heldout_data", text, "--out", str(tmp_path / "x")]) == 2
    assert "--heldout_data" in capsys.readouterr().err
    sweep = ["repeat_sweep", *base, "--block", "1:2", "--max_extra", "1", "--metrics", "[nll]"]
    assert main([*sweep, "--out", str(tmp_path / "s")]) == 2
    assert "--nll_data FILE" in capsys.readouterr().err
    assert main([*sweep, "--nll_data", text, "--nll_batches", "1", "--out", str(tmp_path / "s")]) == 0
    rows = json.loads((tmp_path / "s" / "repeat_sweep.json").read_text())["rows"]
    assert len(rows) == 2 and all(r["nll"] > 0 for r in rows)


def test_unusable_heldout_files_name_no_flag_the_command_lacks(hf_dir, data, tmp_path, capsys):
    """eval/repeat_sweep have no --seq_len (a row is the model's window) and no --field (the field is `text`)."""
    short = tmp_path / "short.txt"
    short.write_text("tiny text")
    eval_args = ["eval", "--ckpt_path", f"hf:{hf_dir}", "--tasks", "none", "--heldout", "true", "--out", str(tmp_path)]
    assert main([*eval_args, "--heldout_data", str(short)]) == 2
    err = capsys.readouterr().err.strip()
    assert "window" in err and "--seq_len" not in err and "\n" not in err
    assert main([*eval_args, "--heldout_data", str(data / "gsm8k.parquet")]) == 2
    err = capsys.readouterr().err.strip()
    assert "has no column 'text'" in err and "--field" not in err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--depth_score_sets", "[gsm8k, maths]"], "--depth_score_sets[1]='maths' is not allowed: choose one of gsm8k"),
        (["--intervention_scoring", "sampled"], "--intervention_scoring='sampled' is not allowed"),
        (["--inputs", "validation"], "--inputs='validation' is not allowed: choose one of files, heldout"),
        (["--heldout_data", "x.jsonl"], "--heldout_data=x.jsonl is only read with --inputs heldout"),
        (["--inputs", "heldout"], "is only read with --inputs files (now --inputs heldout)"),  # --data given
        (["--inputs", "heldout", "--lambada", "x.jsonl"], "--lambada=x.jsonl is only read with --inputs files"),
        (["--seq_len", "64"], "--seq_len=64 is not allowed: the model's window is 32 tokens"),
    ],
)
def test_bad_data_flags_are_one_line_before_any_work(flags, message, hf_dir, data, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["analyze", "--ckpt_path", f"hf:{hf_dir}", "--analyses", "depth_score,interventions", "--data", str(data)]
    assert main([*args, "--out", str(out), "--seq_len", "24", *flags]) == 2
    assert message in capsys.readouterr().err and not out.exists()
