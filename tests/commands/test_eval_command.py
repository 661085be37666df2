"""`lightning_iter eval`, `icl_sweep`, `sft_sweep` on a small checkpoint: JSON, markdown table, PNG; clear errors."""

from __future__ import annotations

import json

import pytest

from lightning_iter.cli import main as cli_main
from lightning_iter.eval.nll import heldout_nll
from lightning_iter.loading import load_model
from tests.eval.checkpoints import tiny_model, write_checkpoint

DATA = {
    "class_path": "lightning_iter.data.PrimitivesDataModule",
    "init_args": {"seq_len": 16, "batch_size": 4, "val_size": 8},
}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return write_checkpoint(
        tmp_path_factory.mktemp("ckpt") / "tiny.ckpt", tiny_model(n_layers=2, max_seq_len=128), DATA
    )


def test_eval_writes_json_table_and_chart(ckpt, tmp_path, capsys):
    out = tmp_path / "eval"
    status = cli_main(
        [
            "eval",
            "--ckpt_path",
            str(ckpt),
            "--tasks",
            "assign_basic,copy_random",
            "--depths",
            "0,1",
            "--n_items",
            "4",
            "--shots",
            "0",
            "--heldout",
            "true",
            "--repeat",
            "0:2x1",
            "--out",
            str(out),
            "--progress",
            "false",
        ]
    )
    assert status == 0
    result = json.loads((out / "results.json").read_text())
    assert result["plan"] == [0, 1, 0, 1]
    assert set(result["primitives"]["accuracy"]) == {"assign_basic@0", "assign_basic@1", "copy_random@0"}
    loaded = load_model(ckpt, repeat="0:2x1")
    expected = heldout_nll(loaded.model, loaded.build_datamodule().val_dataloader())
    assert result["heldout"]["loss"] == pytest.approx(expected["loss"], rel=1e-5)
    table = (out / "primitives.md").read_text()
    header = table.splitlines()[0]
    assert header.startswith("| Model | Holdout NLL ↓ | Copying (random words) | Variable assignment (basic) | Mean |")
    acc = result["primitives"]["accuracy"]
    # the seeds' layout: task columns at depth 0, Mean = mean of the columns (seed 004 Table 6)
    basic = 100 * acc["assign_basic@0"]
    mean = (basic + 100 * acc["copy_random@0"]) / 2
    assert table.splitlines()[2].endswith(f"| {basic:.2f} | {mean:.2f} |")
    assert result["primitives"]["mean"] == pytest.approx(mean / 100)
    # variable assignment at depth 1 is a table of its own (seed 000 §4)
    deep = table.split("\n\n")[1].splitlines()
    assert deep[0] == "| Model | Variable assignment (basic) d=1 | Mean (depths 1–2) |"
    assert deep[2].endswith(f"| {100 * acc['assign_basic@1']:.2f} | {100 * acc['assign_basic@1']:.2f} |")
    assert result["primitives"]["scoring"] == "lm_eval" and "scoring lm_eval" in table
    assert (out / "primitives.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "Variable assignment (basic)" in printed and str(out / "results.json") in printed


def test_eval_options_name_themselves_in_every_output(ckpt, tmp_path, capsys):
    """`--scoring eos` and `--aggregate all_depths` (the project's earlier protocol) are named in JSON and table."""
    argv = ["eval", "--ckpt_path", str(ckpt), "--tasks", "assign_basic", "--depths", "0,1", "--n_items", "3"]
    argv += ["--shots", "0", "--progress", "false", "--scoring", "eos", "--aggregate", "all_depths"]
    assert cli_main([*argv, "--out", str(tmp_path / "old")]) == 0
    result = json.loads((tmp_path / "old" / "results.json").read_text())["primitives"]
    assert result["scoring"] == "eos" and result["aggregate"] == "all_depths"
    acc = result["accuracy"]
    assert result["mean"] == pytest.approx((acc["assign_basic@0"] + acc["assign_basic@1"]) / 2)
    table = (tmp_path / "old" / "primitives.md").read_text()
    assert "scoring eos" in table and "aggregate all_depths" in table
    assert f"| {100 * result['mean']:.2f} | {100 * result['mean']:.2f} |" in table.splitlines()[2]
    for flag, value, allowed in (("--scoring", "EOS", "lm_eval, eos"), ("--aggregate", "mean", "depth0, all_depths")):
        assert cli_main([*argv, flag, value, "--out", str(tmp_path / "bad")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.endswith(f"{flag}={value!r} is not allowed: choose one of {allowed}") and "\n" not in err
    assert not (tmp_path / "bad").exists()


def test_eval_rejects_bad_input_with_one_line(ckpt, tmp_path, capsys):
    assert cli_main(["eval", "--ckpt_path", str(ckpt), "--tasks", "copy_fake", "--out", str(tmp_path)]) == 2
    assert "--tasks contains 'copy_fake'" in capsys.readouterr().err
    assert cli_main(["eval", "--ckpt_path", str(ckpt), "--tasks", "none", "--out", str(tmp_path)]) == 2
    assert cli_main(["eval", "--ckpt_path", str(tmp_path / "missing.ckpt")]) == 2
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_icl_and_sft_sweep_commands(ckpt, tmp_path):
    assert (
        cli_main(
            [
                "icl_sweep",
                "--ckpt_path",
                str(ckpt),
                "--tasks",
                "assign_basic",
                "--depths",
                "0",
                "--n_items",
                "2",
                "--out",
                str(tmp_path / "icl"),
                "--progress",
                "false",
            ]
        )
        == 0
    )
    icl = json.loads((tmp_path / "icl" / "icl_sweep.json").read_text())
    assert [k for k, _ in icl["curves"]["assign_basic@0"]][-1] == icl["limit"]["assign_basic@0"]
    assert (tmp_path / "icl" / "icl_sweep.png").is_file()
    assert (
        cli_main(
            [
                "sft_sweep",
                "--ckpt_path",
                str(ckpt),
                "--sizes",
                "2",
                "--shots",
                "0",
                "--epochs",
                "1",
                "--n_items",
                "2",
                "--untie",
                "true",
                "--out",
                str(tmp_path / "sft"),
                "--progress",
                "false",
            ]
        )
        == 0
    )
    sft = json.loads((tmp_path / "sft" / "sft_sweep.json").read_text())
    assert sft["sizes"] == [0, 2] and sft["untie"] is True
    assert (tmp_path / "sft" / "sft_sweep.png").is_file()
