"""`lightning_iter fit` run directories: one per run name, printed at start and end, never silently reused;
`validate` adds no fit attempt; a tiny fit prints none of Lightning's advertisements or its misleading summary."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lightning_iter.cli import main
from tests.helpers import tiny_fit_args

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = str(ROOT / "configs/quickstart.yaml")
TINY = [
    *tiny_fit_args(max_steps=4, val_check_interval=2),
    "--trainer.accelerator",
    "cpu",
    "--trainer.precision",
    "32-true",
]
# What every run used to print that says nothing true about it (issue 17 item 2).
NOISE = ["Tip: For seamless", "litlogger", "litmodels", "args parameter", "Total Flops", "Total params", "LeafSpec"]


def fit(tmp_path, monkeypatch, *extra):
    monkeypatch.chdir(tmp_path)
    return main(["fit", "--config", QUICKSTART, *TINY, *extra])


@pytest.mark.slow  # a subprocess fit (its stdout and stderr as a user sees them): ~25-40 s on 2 busy cores
def test_a_tiny_fit_names_its_run_directory_and_prints_no_noise(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, "-m", "lightning_iter.cli", "fit", "--config", QUICKSTART, *TINY]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    both = result.stdout + result.stderr
    assert [noise for noise in NOISE if noise in both] == []
    run_dir = (tmp_path / "runs" / "quickstart").resolve()
    lines = result.stdout.splitlines()
    assert lines.count(f"[lightning_iter] run 'quickstart': run directory {run_dir}") == 2  # at start and end
    assert "[lightning_iter] model: 17,600 parameters at 1 unique layers now; 36,160 at the end of this run" in both
    assert f"[lightning_iter] checkpoint: {run_dir / 'checkpoints' / 'last.ckpt'}" in lines
    assert f"[lightning_iter] logs: {run_dir / 'version_0'}  (tensorboard --logdir {run_dir})" in lines
    assert any(p.name.startswith("events.out.tfevents") for p in (run_dir / "version_0").iterdir())


def test_rerunning_a_name_is_an_error_and_last_resumes_into_the_same_directory(tmp_path, monkeypatch, capsys):
    assert fit(tmp_path, monkeypatch, "--trainer.max_steps", "2") == 0
    run_dir = tmp_path / "runs" / "quickstart"
    assert fit(tmp_path, monkeypatch) == 2
    err = capsys.readouterr().err
    assert f"run_name='quickstart': the run directory {Path('runs/quickstart')} already holds a run" in err
    assert "resume it with --ckpt_path last" in err
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoints", "version_0"]  # nothing written
    assert fit(tmp_path, monkeypatch, "--ckpt_path", "last") == 0
    out = capsys.readouterr().out
    assert f"--ckpt_path last: resuming from {run_dir.resolve() / 'checkpoints'}" in out
    assert "finished at step 4" in out
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoints", "version_0", "version_1"]


def test_a_fit_that_wrote_no_checkpoint_does_not_block_its_name(tmp_path, monkeypatch, capsys):
    assert fit(tmp_path, monkeypatch, "--model.warmup_steps", "10") == 2  # fails once the logger has started
    run_dir = tmp_path / "runs" / "quickstart"
    assert sorted(p.name for p in run_dir.iterdir()) == ["version_0"]
    capsys.readouterr()
    assert fit(tmp_path, monkeypatch) == 0
    out = capsys.readouterr().out
    assert (
        f"{Path('runs/quickstart')} holds the logs of version_0 but no checkpoint: starting a new attempt there" in out
    )
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoints", "version_0", "version_1"]


def test_run_name_and_validate_stay_in_their_run_directory(tmp_path, monkeypatch, capsys):
    assert fit(tmp_path, monkeypatch, "--run_name", "mine", "--trainer.max_steps", "2") == 0
    run_dir = tmp_path / "runs" / "mine"
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    assert ckpt.is_file() and not (tmp_path / "runs" / "quickstart").exists()
    capsys.readouterr()
    assert main(["validate", "--config", QUICKSTART, *TINY, "--run_name", "mine", "--ckpt_path", str(ckpt)]) == 0
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoints", "validate", "version_0"]
    assert any(p.name.startswith("events.out.tfevents") for p in (run_dir / "validate").iterdir())


def test_validate_ckpt_path_last_finds_the_run_checkpoint(tmp_path, monkeypatch, capsys):
    assert fit(tmp_path, monkeypatch, "--trainer.max_steps", "2") == 0
    run_dir = tmp_path / "runs" / "quickstart"
    capsys.readouterr()
    assert main(["validate", "--config", QUICKSTART, *TINY, "--ckpt_path", "last"]) == 0
    last = run_dir.resolve() / "checkpoints" / "last.ckpt"
    assert f"--ckpt_path last: resuming from {last}" in capsys.readouterr().out
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoints", "validate", "version_0"]


@pytest.mark.parametrize("name", ["../up", "a/b", ".hidden", "two words"])
def test_a_run_name_that_is_not_one_folder_name_is_one_clear_error(tmp_path, monkeypatch, capsys, name):
    assert fit(tmp_path, monkeypatch, "--run_name", name) == 2
    assert f"run_name={name!r} is not a valid run name" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_an_overlay_names_a_run_of_its_own():
    from lightning_iter.run_dir import choose_run_name

    paper, overlay = "configs/paper/smollm-1.7b-lidas.yaml", "configs/data/cooldown-nmt20.yaml"
    assert choose_run_name(None, None, [paper]) == "smollm-1.7b-lidas"
    assert choose_run_name(None, None, [paper, overlay]) == "smollm-1.7b-lidas_cooldown-nmt20"
    assert choose_run_name(None, None, []) == "run"
    assert choose_run_name("mine", None, [paper, overlay]) == "mine"


def test_a_run_refit_from_its_saved_config_keeps_its_run_name(tmp_path, monkeypatch, capsys):
    assert fit(tmp_path, monkeypatch, "--trainer.max_steps", "2") == 0  # named for the config file
    saved = tmp_path / "runs" / "quickstart" / "version_0" / "config.yaml"
    assert "run_name: quickstart" in saved.read_text()  # `--config saved` would otherwise name its run `config`


def test_resuming_into_the_run_directory_does_not_warn_that_it_is_not_empty(tmp_path, monkeypatch, recwarn):
    assert fit(tmp_path, monkeypatch, "--trainer.max_steps", "2") == 0
    recwarn.clear()
    assert fit(tmp_path, monkeypatch, "--ckpt_path", "last") == 0
    assert [str(w.message) for w in recwarn if "exists and is not empty" in str(w.message)] == []
