"""Checkpoint files: written beside the target and renamed (never via $TMPDIR), `last.ckpt` a link to the newest,
one `version_N` folder per run, stale temporaries of dead writers removed, `--ckpt_path last|auto` resolution."""

import os
import subprocess
import sys

import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from lightning_iter.callbacks import checkpointing
from lightning_iter.callbacks.checkpointing import (
    AtomicCheckpointIO,
    RunCheckpoint,
    install_checkpointing,
    resolve_ckpt_path,
)
from lightning_iter.errors import CheckpointError
from tests.helpers import small_data, small_lm, trainer

LIDAS = {"name": "lidas", "block_size": 1, "initial_depth": 1, "horizon": 4}


def fit(root, max_steps=4, ckpt_path=None, **checkpoint):
    """A 3-layer LIDAS run under `install_checkpointing`, checkpointing every 2 steps."""
    options = {"every_n_train_steps": 2, "save_last": True, "save_top_k": -1, **checkpoint}
    t = trainer(
        max_steps=max_steps, enable_checkpointing=True, default_root_dir=root, callbacks=[ModelCheckpoint(**options)]
    )
    install_checkpointing(t)
    if ckpt_path in ("last", "auto"):
        ckpt_path = resolve_ckpt_path(t, ckpt_path)
    t.fit(small_lm(LIDAS, n_layers=3), datamodule=small_data(), ckpt_path=ckpt_path)
    return t


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_checkpoints_are_written_beside_the_target_then_renamed(tmp_path, monkeypatch):
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    monkeypatch.setattr("tempfile.tempdir", None)  # re-read $TMPDIR
    written = []
    real_save = torch.save

    def spy(obj, f, *args, **kwargs):
        written.append(os.fspath(f) if isinstance(f, (str, os.PathLike)) else "<buffer>")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", spy)
    t = fit(tmp_path / "run")
    assert isinstance(t.strategy.checkpoint_io, AtomicCheckpointIO)
    folder = tmp_path / "run" / "checkpoints" / "version_0"
    assert written and all(os.path.dirname(w) == str(folder) for w in written), written
    assert all(os.path.basename(w).startswith(".epoch=") and ".ckpt.tmp-" in os.path.basename(w) for w in written)
    assert sorted(p.name for p in folder.iterdir()) == ["epoch=0-step=2.ckpt", "epoch=0-step=4.ckpt", "last.ckpt"]
    assert not list(tmpdir.iterdir())


def test_last_is_a_link_to_the_newest_and_each_run_gets_its_own_folder(tmp_path):
    dirpath = tmp_path / "ckpts"
    fit(tmp_path, dirpath=str(dirpath))
    fit(tmp_path, max_steps=2, dirpath=str(dirpath))  # the same config again: a second run, not last-v1.ckpt
    first, second = dirpath / "version_0", dirpath / "version_1"
    assert sorted(p.name for p in dirpath.iterdir()) == ["version_0", "version_1"]
    assert (first / "last.ckpt").is_symlink() and os.readlink(first / "last.ckpt") == "epoch=0-step=4.ckpt"
    assert os.readlink(second / "last.ckpt") == "epoch=0-step=2.ckpt"
    assert not list(tmp_path.rglob("last-v*.ckpt"))


def test_the_logger_version_names_the_folder_of_an_explicit_dirpath(tmp_path):
    from lightning.pytorch.loggers import TensorBoardLogger

    (tmp_path / "tb" / "version_0").mkdir(parents=True)  # an older run's logs
    t = trainer(
        max_steps=2,
        enable_checkpointing=True,
        logger=TensorBoardLogger(tmp_path, name="tb"),
        callbacks=[ModelCheckpoint(dirpath=tmp_path / "ckpts", every_n_train_steps=2, save_last=True)],
    )
    install_checkpointing(t)
    t.fit(small_lm(LIDAS, n_layers=3), datamodule=small_data())
    assert t.logger.version == 1 and (tmp_path / "ckpts" / "version_1" / "last.ckpt").is_symlink()


def test_custom_io_and_callbacks_are_kept(tmp_path):
    class Mine(ModelCheckpoint):
        pass

    class MyIO(AtomicCheckpointIO):
        pass

    t = trainer(max_steps=1, enable_checkpointing=True, callbacks=[Mine()], plugins=[MyIO()])
    install_checkpointing(t)
    assert type(t.checkpoint_callback) is Mine and type(t.strategy.checkpoint_io) is MyIO


def test_stale_temporaries_of_dead_writers_are_removed_and_nothing_else(tmp_path):
    folder = tmp_path / "checkpoints" / "version_0"
    folder.mkdir(parents=True)
    dead = folder / f".epoch=0-step=2.ckpt.tmp-{dead_pid()}-0123abcd"
    alive = folder / f".epoch=0-step=2.ckpt.tmp-{os.getppid()}-0123abcd"  # another live writer's
    user = folder / ".notes.txt.tmp-1-0123abcd"
    for path in (dead, alive, user):
        path.write_bytes(b"x" * 10)
    t = trainer(max_steps=1, enable_checkpointing=True, default_root_dir=tmp_path, callbacks=[ModelCheckpoint()])
    install_checkpointing(t)
    assert resolve_ckpt_path(t, "auto") is None
    assert not dead.exists() and alive.exists() and user.exists()


def test_last_resumes_the_newest_checkpoint_that_loads_and_says_what_it_skipped(tmp_path, capsys):
    fit(tmp_path)  # version_0: steps 2, 4
    folder = tmp_path / "checkpoints" / "version_0"
    good = folder / "epoch=0-step=4.ckpt"
    (folder / "epoch=0-step=6.ckpt").write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # torn, newer
    os.utime(folder / "epoch=0-step=6.ckpt", ns=(good.stat().st_mtime_ns + 10**9,) * 2)
    (folder / "last.ckpt").unlink()
    os.symlink("epoch=0-step=8.ckpt", folder / "last.ckpt")  # dangling
    capsys.readouterr()
    t = fit(tmp_path, max_steps=6, ckpt_path="last")
    out = capsys.readouterr().out
    assert f"--ckpt_path last: skipped {folder / 'epoch=0-step=6.ckpt'}: not a complete torch checkpoint" in out
    assert f"--ckpt_path last: skipped {folder / 'last.ckpt'}: a link to epoch=0-step=8.ckpt, which does not" in out
    assert f"--ckpt_path last: resuming from {good}" in out
    assert t.global_step == 6 and (tmp_path / "checkpoints" / "version_1" / "epoch=0-step=6.ckpt").is_file()


def test_auto_starts_fresh_when_there_is_none_and_last_is_an_error(tmp_path, capsys):
    t = fit(tmp_path, max_steps=2, ckpt_path="auto")
    assert t.global_step == 2
    assert "--ckpt_path auto: no checkpoint that loads under" in capsys.readouterr().out
    empty = trainer(max_steps=1, enable_checkpointing=True, default_root_dir=tmp_path / "other")
    install_checkpointing(empty)
    with pytest.raises(CheckpointError, match="--ckpt_path=last found no checkpoint that loads under .*other"):
        resolve_ckpt_path(empty, "last")


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"a": 1}, path)

    def torn(obj, f, *args, **kwargs):
        open(f, "wb").write(b"PK\x03\x04 half")
        raise OSError("disk full")

    monkeypatch.setattr(checkpointing.torch, "save", torn)
    with pytest.raises(OSError, match="disk full"):
        AtomicCheckpointIO().save_checkpoint({"a": 2}, path)
    monkeypatch.undo()
    assert torch.load(path) == {"a": 1} and [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_a_plain_callback_becomes_a_run_checkpoint_with_its_settings():
    callback = ModelCheckpoint(every_n_train_steps=7, save_last=True, save_top_k=-1)
    key = callback.state_key  # what checkpoints written by a plain ModelCheckpoint hold its state under
    upgraded = RunCheckpoint.upgrade(callback)
    assert callback.state_key == key
    assert upgraded is callback and isinstance(callback, RunCheckpoint)
    assert callback.save_last == "link" and callback.save_top_k == -1 and callback._every_n_train_steps == 7


def test_a_monitored_callback_keeps_writing_last_in_full():
    """With a monitor, Lightning's link points at the last kept (best) file, not the newest state: no link then."""
    callback = RunCheckpoint.upgrade(ModelCheckpoint(monitor="val/loss", save_top_k=1, save_last=True))
    assert callback.save_last is True
