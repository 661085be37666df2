"""The `lightning_iter` command line: configs parse, fit runs end to end, bad input gives one clear line."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from lightning_iter.cli import main
from lightning_iter.depth import get_strategy
from lightning_iter.model import ModelConfig
from tests.helpers import tiny_fit_args

ROOT = Path(__file__).resolve().parents[2]
# configs/paper/recipes/ holds group files the paper configs nest (tests/configs/test_paper_configs.py parses them)
CONFIGS = sorted(p for p in (ROOT / "configs").rglob("*.yaml") if "recipes" not in p.parts)

TINY_FIT = tiny_fit_args(max_steps=6, val_check_interval=3)


def run_cli(*args, cwd=None):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run(
        [sys.executable, "-m", "lightning_iter.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("config", CONFIGS, ids=[str(c.relative_to(ROOT)) for c in CONFIGS])
def test_every_shipped_config_parses(config, capsys):
    data_only = "model" not in (yaml.safe_load(config.read_text()) or {})
    base = ["--config", str(ROOT / "configs/paper/smollm-360m-lidas.yaml")] if data_only else []
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *base, "--config", str(config), "--print_config"])
    assert exit_info.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["depth"]["name"] in {"baseline", "midas", "lidas", "loop"}


def test_retrofit_config_survives_the_config_lightning_saves(tmp_path, capsys):
    """LightningCLI writes the parsed config into every run directory; reading it back gives the same depth."""
    with pytest.raises(SystemExit):
        main(["fit", "--config", str(ROOT / "configs/retrofit-tiny.yaml"), "--print_config"])
    saved = tmp_path / "config.yaml"
    saved.write_text(capsys.readouterr().out)
    with pytest.raises(SystemExit):
        main(["fit", "--config", str(saved), "--print_config"])
    strategy = get_strategy(**yaml.safe_load(capsys.readouterr().out)["model"]["depth"])
    strategy.setup(ModelConfig.from_name("tiny", n_layers=6))
    assert strategy.plan_at(79) == (0, 1, 2, 3, 4, 5)
    assert strategy.plan_at(80) == (0, 1, 2, 3, 2, 3, 4, 5)


def test_quickstart_config_fit_end_to_end(tmp_path):
    result = run_cli("fit", "--config", str(ROOT / "configs/quickstart.yaml"), *TINY_FIT, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "grew to 3 layers" in out + result.stderr
    ckpt_line = next(line for line in out.splitlines() if line.startswith("[lightning_iter] checkpoint:"))
    ckpt = Path(ckpt_line.split(": ", 1)[1])
    assert ckpt.is_file()
    state = torch.load(ckpt, weights_only=False)["lightning_iter"]
    assert state["n_unique"] == 3 and state["plan"] == [0, 1, 2]
    logs = Path(
        next(line for line in out.splitlines() if line.startswith("[lightning_iter] logs:"))
        .split(": ", 1)[1]
        .split()[0]
    )
    assert any(p.name.startswith("events.out.tfevents") for p in logs.iterdir())


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--model.depth", '{"name": "growz"}'],
            "depth.name='growz' is not a known depth strategy: known strategies are baseline, lidas, loop, midas",
        ),
        (
            ["--model.depth", '{"name": "midas", "block_size": 3, "horizon": 10}'],
            "depth.block_size=3 cannot reach the target depth 8",
        ),
        (
            ["--model.depth", '{"name": "lidas", "block_size": 2, "initial_depth": 10, "horizon": 10}'],
            "depth.initial_depth=10 is above the target depth 8",
        ),
        (["--model.arch", "gpt5"], "model preset 'gpt5' is unknown"),
    ],
)
def test_bad_config_gives_one_clear_line(tmp_path, args, message):
    result = run_cli(
        "fit", "--config", str(ROOT / "configs/quickstart.yaml"), *args, "--trainer.max_steps", "1", cwd=tmp_path
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.ckpt"))


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_run")
    result = run_cli("fit", "--config", str(ROOT / "configs/quickstart.yaml"), *TINY_FIT, cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    return next(root.rglob("last.ckpt"))


def _resume_with(tmp_path, ckpt_path):
    return run_cli(
        "fit",
        "--config",
        str(ROOT / "configs/quickstart.yaml"),
        *TINY_FIT,
        "--trainer.max_steps",
        "8",
        "--ckpt_path",
        str(ckpt_path),
        cwd=tmp_path,
    )


def test_resume_through_the_cli_continues_at_full_depth(tmp_path, tiny_checkpoint):
    result = _resume_with(tmp_path, tiny_checkpoint)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "finished at step 8: 3 unique layers" in result.stdout


def test_validate_a_grown_checkpoint(tmp_path, tiny_checkpoint):
    result = run_cli(
        "validate",
        "--config",
        str(ROOT / "configs/quickstart.yaml"),
        *TINY_FIT,
        "--ckpt_path",
        str(tiny_checkpoint),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "val/loss" in result.stdout


def test_checkpoint_of_another_model_is_rejected(tmp_path, tiny_checkpoint):
    checkpoint = torch.load(tiny_checkpoint, weights_only=False)
    checkpoint["lightning_iter"]["config"]["d_model"] = 64
    torch.save(checkpoint, tmp_path / "other.ckpt")
    result = _resume_with(tmp_path, tmp_path / "other.ckpt")
    assert result.returncode == 2
    assert (
        "checkpoint is from another model: it has model.d_model=64, this run builds model.d_model=32" in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_checkpoint_not_written_by_lightning_iter_is_rejected(tmp_path, tiny_checkpoint):
    checkpoint = torch.load(tiny_checkpoint, weights_only=False)
    del checkpoint["lightning_iter"]
    torch.save(checkpoint, tmp_path / "foreign.ckpt")
    result = _resume_with(tmp_path, tmp_path / "foreign.ckpt")
    assert result.returncode == 2
    assert "checkpoint has no 'lightning_iter' entry: it was not written by lightning_iter" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_checkpoint_file(tmp_path):
    result = _resume_with(tmp_path, tmp_path / "nope.ckpt")
    assert result.returncode == 2
    assert "nope.ckpt does not exist: give a checkpoint file written by `lightning_iter fit`" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_directory_as_checkpoint_is_named_a_directory(tmp_path):
    from lightning_iter.commands.fit import check_ckpt_path
    from lightning_iter.errors import CheckpointError

    with pytest.raises(CheckpointError, match=r"--ckpt_path=.* is a directory, not a file: give a checkpoint file"):
        check_ckpt_path(["--ckpt_path", str(tmp_path)])


def test_strategies_command_lists_builtins(capsys):
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    for name in ("baseline", "lidas", "loop", "midas"):
        assert name in out


def test_unknown_command():
    assert main(["frobnicate"]) == 2


def test_bench_lists_and_rejects(capsys):
    assert main(["bench", "--help"]) == 0
    assert "growth_cost" in capsys.readouterr().out
    assert main(["bench", "nope"]) == 2
    assert "benchmark 'nope' is unknown" in capsys.readouterr().err


def test_bench_runs_the_analytic_growth_benchmark(tmp_path, capsys):
    assert main(["bench", "growth_cost", "--skip-measured", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| smollm-360m |" in out and (tmp_path / "growth_cost.json").is_file()
