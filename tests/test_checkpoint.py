"""The checkpoint entry: one writer, one reader that validates (version, fields, moved classes), public class paths."""

import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_iter import checkpoint
from lightning_iter.checkpoint import (
    CHECKPOINT_KEY,
    CHECKPOINT_VERSION,
    REQUIRED_FIELDS,
    build_entry,
    class_path,
    data_state,
    read_entry,
    write_checkpoint,
)
from lightning_iter.data import ByteTokenizer, PrimitivesDataModule, StreamingDataModule
from lightning_iter.errors import CheckpointError
from lightning_iter.loading import load_model
from lightning_iter.model import ModelConfig, Transformer

SMALL = {"d_model": 32, "n_heads": 2, "n_kv_heads": 1, "ffn_dim": 64, "max_seq_len": 32}
DATA = {"class_path": "lightning_iter.data.PrimitivesDataModule", "init_args": {"seq_len": 16, "batch_size": 2}}


def tiny(n_layers: int = 3, plan=(0, 1, 2, 1, 2)) -> Transformer:
    torch.manual_seed(0)
    return Transformer(ModelConfig.from_name("tiny", **SMALL, n_layers=n_layers), plan).eval()


def entry(**changes):
    return {CHECKPOINT_KEY: {**build_entry(tiny(), {"name": "baseline"}), **changes}}


def test_written_checkpoint_loads_back_with_its_plan_tokenizer_and_data(tmp_path):
    model = tiny()
    path = write_checkpoint(
        tmp_path / "m.ckpt", model, depth={"name": "loop"}, tokenizer=ByteTokenizer(), data=DATA, global_step=7
    )
    assert [p.name for p in tmp_path.iterdir()] == ["m.ckpt"]  # written atomically: no temporary left
    loaded = load_model(path)
    assert loaded.model.n_unique == 3 and loaded.model.plan == (0, 1, 2, 1, 2)
    tokens = torch.randint(0, model.config.vocab_size, (2, 8))
    with torch.no_grad():
        assert torch.equal(loaded.model(tokens), model(tokens))
    assert isinstance(loaded.tokenizer, ByteTokenizer)
    assert loaded.info["global_step"] == 7 and loaded.info["depth"] == {"name": "loop"}
    assert loaded.info["version"] == CHECKPOINT_VERSION
    assert isinstance(loaded.build_datamodule(), PrimitivesDataModule)


def test_data_modules_are_recorded_by_their_defining_module():
    assert class_path(PrimitivesDataModule) == "lightning_iter.data.primitive_corpus.PrimitivesDataModule"
    assert class_path(StreamingDataModule) == "lightning_iter.data.streaming.StreamingDataModule"

    class Local:
        pass

    assert class_path(Local) == f"{__name__}.{Local.__qualname__}"
    state = data_state(PrimitivesDataModule(seq_len=16, batch_size=2))
    assert state["data"]["class_path"] == "lightning_iter.data.primitive_corpus.PrimitivesDataModule"
    assert state["data"]["init_args"]["seq_len"] == 16 and state["tokenizer"] == {"kind": "bytes"}
    assert data_state(None) == {}


def test_a_class_path_from_before_the_rename_still_loads(tmp_path):
    old = {"class_path": "lightning_iter.data.datamodule.PrimitivesDataModule", "init_args": {"seq_len": 16}}
    assert read_entry(entry(data=old))["data"]["class_path"] == "lightning_iter.data.PrimitivesDataModule"
    path = write_checkpoint(tmp_path / "old.ckpt", tiny(), data=old)
    data = load_model(path).build_datamodule()
    assert isinstance(data, PrimitivesDataModule) and data.seq_len == 16


def test_a_newer_version_gets_one_clear_error(tmp_path):
    newer = CHECKPOINT_VERSION + 2
    message = re.escape(
        f"checkpoint version {newer} is newer than this lightning_iter (reads up to "
        f"{CHECKPOINT_VERSION}): upgrade lightning_iter"
    )
    with pytest.raises(CheckpointError, match=message):
        read_entry(entry(version=newer))
    with pytest.raises(CheckpointError, match=message):  # checked before the fields a newer layout may lack
        read_entry({CHECKPOINT_KEY: {"version": newer}})
    path = tmp_path / "newer.ckpt"
    torch.save({"state_dict": {}, **entry(version=newer)}, path)
    with pytest.raises(CheckpointError, match=re.escape(f"--ckpt_path={path}: ") + message):
        load_model(path)


@settings(max_examples=20, deadline=None)
@given(version=st.integers(1, 6), newest=st.integers(1, 6))
def test_versions_up_to_ours_are_read(version, newest):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(checkpoint, "CHECKPOINT_VERSION", newest)
        if version <= newest:
            assert read_entry(entry(version=version))["version"] == version
        else:
            with pytest.raises(CheckpointError, match=f"version {version} is newer"):
                read_entry(entry(version=version))


@pytest.mark.parametrize("field", REQUIRED_FIELDS)
def test_a_malformed_entry_names_the_missing_field(field):
    broken = entry()
    del broken[CHECKPOINT_KEY][field]
    with pytest.raises(CheckpointError, match=f"entry is malformed: it has no '{field}'"):
        read_entry(broken)


@pytest.mark.parametrize(
    "field, value, named",
    [
        ("version", "1", "lightning_iter.version='1'"),
        ("n_unique", 0, "lightning_iter.n_unique=0"),
        ("plan", [0, "x"], "lightning_iter.plan[1]='x'"),
        ("config", None, "lightning_iter.config=None"),
        ("data", {"init_args": {}}, "lightning_iter.data={'init_args': {}}"),
    ],
)
def test_bad_values_name_field_and_value(field, value, named):
    with pytest.raises(CheckpointError, match=re.escape(f"checkpoint: {named} is not allowed: ")):
        read_entry(entry(**{field: value}))


def test_a_foreign_checkpoint_is_not_ours():
    for foreign in ({"state_dict": {}}, {CHECKPOINT_KEY: [1]}, "text"):
        with pytest.raises(CheckpointError, match="checkpoint has no 'lightning_iter' entry: it was not written by"):
            read_entry(foreign)


RUN = {"trainer": {"max_steps": 4}, "model": {"arch": "tiny"}}


@settings(max_examples=25, deadline=None)
@given(plan=st.lists(st.integers(0, 3), min_size=1, max_size=8))
def test_the_entry_of_any_plan_reads_back_unchanged(plan):
    model = Transformer(ModelConfig.from_name("tiny", **SMALL, n_layers=4), tuple(plan))
    written = build_entry(model, {"name": "baseline"}, tokenizer={"kind": "bytes"}, data=DATA, run=RUN)
    assert read_entry({CHECKPOINT_KEY: written}) == written
    assert written["run"] == RUN  # what `fit --ckpt_path` compares the resumed run with (resume.recorded_run)


def _fit_like(path, step):
    """A checkpoint file as `fit` writes one (weights, entry, global_step)."""
    return write_checkpoint(path, tiny(), global_step=step)


@pytest.mark.parametrize(
    "damage, reason",
    [
        ("empty", "an empty file"),
        ("truncated", "not a complete torch checkpoint"),
        ("random", "not a complete torch checkpoint"),
        ("foreign", "has no 'lightning_iter' entry"),
        ("dangling", "a link to gone.ckpt, which does not exist"),
        ("no_step", "not a Lightning training checkpoint"),
    ],
)
def test_a_checkpoint_that_cannot_be_resumed_says_why(tmp_path, damage, reason):
    good = _fit_like(tmp_path / "good.ckpt", 3)
    assert checkpoint.checkpoint_problem(good) is None
    bad = tmp_path / "bad.ckpt"
    if damage == "empty":
        bad.write_bytes(b"")
    elif damage == "truncated":
        bad.write_bytes(good.read_bytes()[:-200])
    elif damage == "random":
        bad.write_bytes(bytes(range(256)) * 40)
    elif damage == "foreign":
        torch.save({"state_dict": {}, "global_step": 1}, bad)
    elif damage == "dangling":
        bad.symlink_to("gone.ckpt")
    else:
        loaded = torch.load(good, weights_only=False)
        del loaded["global_step"]
        torch.save(loaded, bad)
    assert reason in checkpoint.checkpoint_problem(bad)


def test_the_newest_loadable_checkpoint_wins_and_a_link_counts_once(tmp_path):
    import os

    files = [_fit_like(tmp_path / f"step={s}.ckpt", s) for s in (2, 4)]
    torn = tmp_path / "step=6.ckpt"
    torn.write_bytes(files[1].read_bytes()[:100])
    (tmp_path / "last.ckpt").symlink_to("step=6.ckpt")  # the link and its torn target: skipped once, as the file
    for age, path in enumerate([files[0], files[1], torn]):
        os.utime(path, ns=(10**18 + age * 10**9,) * 2)
    found, skipped = checkpoint.newest_loadable([*files, torn, tmp_path / "last.ckpt"])
    assert found == files[1].resolve()
    assert [p.name for p, _ in skipped] == ["step=6.ckpt"]
    torn.unlink()
    (tmp_path / "last.ckpt").unlink()
    (tmp_path / "last.ckpt").symlink_to("step=6.ckpt")
    found, skipped = checkpoint.newest_loadable([*files, tmp_path / "last.ckpt"])
    assert found == files[1].resolve() and [p.name for p, _ in skipped] == ["last.ckpt"]
    assert checkpoint.newest_loadable([]) == (None, [])
