"""Distributed (DCP) checkpoint directories under FSDP2: resume across growth, reading and consolidating them,
atomic writes, and one clear error for a directory that is not one of ours."""

from __future__ import annotations

import shutil
from pathlib import Path

import lightning.pytorch.strategies.model_parallel as model_parallel
import pytest
import torch
import torch.distributed.checkpoint as dcp
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.strategies import ModelParallelStrategy

from lightning_iter.callbacks.checkpointing import install_checkpointing, resolve_ckpt_path
from lightning_iter.checkpoint import CHECKPOINT_KEY, checkpoint_problem
from lightning_iter.cli import main as cli_main
from lightning_iter.distributed_checkpoint import (
    METADATA_FILE,
    ShardedCheckpointStrategy,
    load_consolidated,
    positional_optimizer_state,
)
from lightning_iter.errors import CheckpointError, ConfigError
from lightning_iter.loading import load_model
from lightning_iter.model import ModelConfig, Transformer
from lightning_iter.resume import announce_changes, check_resume_file
from tests.helpers import SMALL, Recorder, run_ddp_script, small_data, small_lm, trainer

SCRIPT = Path(__file__).with_name("dcp_resume_script.py")
GROW = {"name": "lidas", "block_size": 1, "initial_depth": 1, "horizon": 6}  # grows at steps 1 and 3


def _run(out: Path, *args: str) -> None:
    result = run_ddp_script([str(SCRIPT), str(out), *args])
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """8 steps of a growing model under FSDP2 on 2 gloo processes, a checkpoint directory every 2 steps."""
    out = tmp_path_factory.mktemp("dcp")
    _run(out, "full")
    return out, out / "ckpts" / "version_0"


@pytest.mark.slow
def test_resume_across_a_growth_boundary_continues_the_uninterrupted_run(full_run):
    """step=2 holds 2 unique layers (grown at step 1), the resumed model starts with 1 and grows again at step 3:
    the shards must load into the checkpoint's depth, optimizer included, for the losses to be the same."""
    out, ckpts = full_run
    assert torch.load(ckpts / "step=2.ckpt" / METADATA_FILE, weights_only=False)[CHECKPOINT_KEY]["n_unique"] == 2
    _run(out, "resume", str(ckpts / "step=2.ckpt"))
    for rank in (0, 1):
        uninterrupted = torch.load(out / f"full_rank{rank}.pt")[2:]
        resumed = torch.load(out / f"resume_rank{rank}.pt")
        assert (
            [row[:2] for row in resumed]
            == [row[:2] for row in uninterrupted]
            == [(2, 2)] + [(s, 3) for s in range(3, 8)]
        )
        torch.testing.assert_close([row[2] for row in resumed], [row[2] for row in uninterrupted], rtol=1e-5, atol=1e-5)
    final, resumed_final = torch.load(out / "full_params.pt"), torch.load(out / "resume_params.pt")
    assert set(final) == set(resumed_final)
    for name, value in final.items():
        torch.testing.assert_close(resumed_final[name], value, rtol=1e-4, atol=1e-5, msg=name)


def _reference(out: Path) -> Transformer:
    """The uninterrupted run's final model, from the full parameters rank 0 gathered at the end."""
    params = torch.load(out / "full_params.pt")
    model = Transformer(ModelConfig.from_name("tiny", **{**SMALL, "n_layers": 3}), (0, 1, 2))
    model.load_state_dict(params)
    return model.eval()


@pytest.mark.slow
def test_directory_and_its_consolidated_file_load_with_the_trained_logits(full_run, tmp_path, capsys):
    out, ckpts = full_run
    tokens = torch.randint(0, 259, (2, 12))
    with torch.no_grad():
        expected = _reference(out)(tokens)
        direct = load_model(ckpts / "last.ckpt")  # the link to step=8.ckpt, read in memory on one process
        torch.testing.assert_close(direct.model(tokens), expected, rtol=0, atol=0)
        assert direct.info["global_step"] == 8 and direct.model.plan == (0, 1, 2)
        assert cli_main(["consolidate", str(ckpts / "step=8.ckpt"), "--out", str(tmp_path / "model.ckpt")]) in (0, None)
        assert "consolidated" in capsys.readouterr().out
        single = load_model(tmp_path / "model.ckpt")
        torch.testing.assert_close(single.model(tokens), expected, rtol=0, atol=0)
    assert checkpoint_problem(tmp_path / "model.ckpt") is None
    assert cli_main(["consolidate", str(ckpts / "step=8.ckpt"), "--out", str(tmp_path / "model.ckpt")]) == 2
    assert "--out=" in capsys.readouterr().err  # exists: not replaced without --overwrite


@pytest.mark.slow
def test_consolidated_file_resumes_on_one_device(full_run, tmp_path):
    """The gathered optimizer state is keyed by position, as a single-process optimizer's state_dict; `fit` on one
    device resumes from the file or the directory alike."""
    out, ckpts = full_run
    checkpoint = load_consolidated(ckpts / "step=2.ckpt")
    state = checkpoint["optimizer_states"][0]
    n_params = sum(len(group["params"]) for group in state["param_groups"])
    assert sorted(state["state"]) == list(range(n_params))
    torch.save(checkpoint, tmp_path / "step=2.ckpt")
    recorder = Recorder()
    run = trainer(max_steps=4, callbacks=[recorder])
    lm = small_lm(GROW, n_layers=3)
    run.fit(lm, small_data(), ckpt_path=str(tmp_path / "step=2.ckpt"))
    assert [row[:2] for row in recorder.rows] == [(2, 2), (3, 3)]
    assert all(run.optimizers[0].state[p]["exp_avg"].abs().sum() > 0 for p in lm.model.parameters())
    direct = Recorder()  # the directory itself, gathered by `fit`'s checkpoint IO: the same run
    run = trainer(max_steps=4, callbacks=[direct])
    install_checkpointing(run)
    run.fit(small_lm(GROW, n_layers=3), small_data(), ckpt_path=str(ckpts / "step=2.ckpt"))
    assert direct.rows == recorder.rows


@pytest.mark.slow
def test_last_finds_directories_and_skips_an_incomplete_one(full_run, tmp_path, capsys):
    _, ckpts = full_run
    run_dir = tmp_path / "runs" / "version_0"
    shutil.copytree(ckpts, run_dir, symlinks=True)
    torn = run_dir / "step=9.ckpt"
    shutil.copytree(ckpts / "step=8.ckpt", torn)
    next(torn.glob("*.distcp")).unlink()
    run = trainer(callbacks=[ModelCheckpoint(dirpath=tmp_path / "runs")], enable_checkpointing=True)
    install_checkpointing(run)
    assert resolve_ckpt_path(run, "last") == str((run_dir / "step=8.ckpt").resolve())
    out = capsys.readouterr().out
    assert f"skipped {torn.resolve()}: an incomplete distributed checkpoint: its shard file" in out


@pytest.mark.slow
def test_resume_announcements_read_a_directory(full_run):
    _, ckpts = full_run
    lines = announce_changes(ckpts / "step=2.ckpt", {"model": {"warmup_steps": 5}})
    assert "resume: model.warmup_steps 2 -> 5" in lines


def _dcp_directory(path: Path, metadata: dict | None) -> Path:
    """A DCP directory as one process writes it (no process group), with `metadata` as its meta.pt."""
    dcp.save({"state_dict": {"model.norm.weight": torch.ones(4)}}, checkpoint_id=str(path))
    if metadata is not None:
        torch.save(metadata, path / METADATA_FILE)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.mkdir() or p, r"is a directory that is not a distributed \(DCP\) checkpoint: it has no .metadata"),
        (lambda p: _dcp_directory(p, None), r"not a distributed \(DCP\) checkpoint: it has no meta.pt"),
        (lambda p: _dcp_directory(p, {"global_step": 3}), r"has no 'lightning_iter' entry: it was not written by"),
    ],
    ids=["plain directory", "no meta.pt", "not ours"],
)
def test_a_directory_that_is_not_our_checkpoint_gets_one_error(tmp_path, make, message, capsys):
    path = make(tmp_path / "step=3.ckpt")
    with pytest.raises(CheckpointError, match=message):
        load_model(path)
    with pytest.raises(CheckpointError, match=message):
        check_resume_file(path)
    assert cli_main(["consolidate", str(path), "--out", str(tmp_path / "out.ckpt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ckpt_dir=" in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "out.ckpt").exists()


def _one_process_strategy(monkeypatch) -> ShardedCheckpointStrategy:
    strategy = ShardedCheckpointStrategy.upgrade(ModelParallelStrategy())
    monkeypatch.setattr(strategy, "broadcast", lambda obj, src=0: obj)
    monkeypatch.setattr(strategy, "barrier", lambda name=None: None)
    return strategy


def test_a_failed_write_leaves_the_previous_directory_whole(tmp_path, monkeypatch):
    """Shards and meta.pt are written under a staging name and renamed: a write that dies half-way (a kill)
    leaves the checkpoint of that name as it was, and its leftovers are stale temporaries."""
    strategy = _one_process_strategy(monkeypatch)
    target = tmp_path / "last.ckpt"
    strategy.save_checkpoint({"state_dict": {"w": torch.zeros(3)}, "global_step": 1}, target)
    before = sorted(p.name for p in target.iterdir())
    assert before == sorted([".metadata", "__0_0.distcp", METADATA_FILE])

    def dies_half_way(state, path):
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "__0_0.distcp").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(model_parallel, "_distributed_checkpoint_save", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        strategy.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "global_step": 2}, target)
    assert sorted(p.name for p in target.iterdir()) == before
    assert torch.load(target / METADATA_FILE, weights_only=False)["global_step"] == 1
    torch.testing.assert_close(load_consolidated(target)["state_dict"]["w"], torch.zeros(3))  # its shards whole
    staged = [p for p in tmp_path.iterdir() if p.name.startswith(".last.ckpt.tmp-")]
    assert len(staged) == 1  # removed by the next save or `--ckpt_path last` (atomic.remove_stale_temps)
    monkeypatch.undo()
    strategy = _one_process_strategy(monkeypatch)
    strategy.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "global_step": 3}, target)
    assert torch.load(target / METADATA_FILE, weights_only=False)["global_step"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_fit_installs_the_sharded_checkpoint_strategy():
    run = trainer(strategy=ModelParallelStrategy(data_parallel_size=1, tensor_parallel_size=1))
    install_checkpointing(run)
    assert type(run.strategy) is ShardedCheckpointStrategy


def test_optimizer_state_is_keyed_by_position_group_after_group():
    state = {
        "state": {"b": {"step": 1}, "a": {"step": 2}, "c": {"step": 3}},
        "param_groups": [{"lr": 1.0, "params": ["a", "b"]}, {"lr": 2.0, "params": ["c"]}],
    }
    assert positional_optimizer_state(state) == {
        "state": {1: {"step": 1}, 0: {"step": 2}, 2: {"step": 3}},
        "param_groups": [{"lr": 1.0, "params": [0, 1]}, {"lr": 2.0, "params": [2]}],
    }


@pytest.mark.parametrize(("data", "tensor", "nodes"), [(4, 1, 1), (1, 1, 1), (2, 1, 2)])
def test_a_mesh_that_does_not_cover_the_processes_is_one_error_before_any_process_group(data, tensor, nodes):
    strategy = ShardedCheckpointStrategy(data_parallel_size=data, tensor_parallel_size=tensor)
    strategy.parallel_devices, strategy.num_nodes = [torch.device("cpu")] * 2, nodes
    with pytest.raises(ConfigError, match=rf"data_parallel_size={data} x tensor_parallel_size={tensor} must equal"):
        strategy.setup_environment()
    assert not torch.distributed.is_initialized()
