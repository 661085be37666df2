"""`load_model`: a fit checkpoint becomes a Transformer with the same function, plan, tokenizer and data."""

import pytest
import torch

from lightning_iter.data import ByteTokenizer, PrimitivesDataModule
from lightning_iter.errors import CheckpointError, PlanError
from lightning_iter.loading import load_model
from tests.helpers import write_checkpoint


@pytest.fixture(scope="module")
def grown_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "grown.ckpt"
    lm = write_checkpoint(
        path, {"name": "lidas", "block_size": 1, "horizon": 4, "initial_depth": 1}, n_layers=3, max_steps=6
    )
    return path, lm


def test_loaded_model_matches_the_trained_one(grown_checkpoint):
    path, lm = grown_checkpoint
    loaded = load_model(path)
    assert loaded.model.n_unique == lm.model.n_unique == 3
    assert loaded.model.plan == lm.model.plan
    tokens = torch.randint(0, 259, (2, 8))
    torch.testing.assert_close(loaded.model(tokens), lm.model.eval()(tokens))
    assert isinstance(loaded.tokenizer, ByteTokenizer)
    assert loaded.info["global_step"] == 6
    data = loaded.build_datamodule()
    assert isinstance(data, PrimitivesDataModule) and data.seq_len == 16


def test_repeat_is_applied_to_the_loaded_plan(grown_checkpoint):
    path, _ = grown_checkpoint
    assert load_model(path, repeat="1:3x2").model.plan == (0, 1, 2, 1, 2, 1, 2)
    with pytest.raises(PlanError):
        load_model(path, repeat="1:9")


def test_bad_checkpoints_give_one_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "nope.ckpt")
    junk = tmp_path / "junk.ckpt"
    junk.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_model(junk)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="not written by"):
        load_model(foreign)
    with pytest.raises(CheckpointError, match="unknown source prefix"):
        load_model("zz:somewhere")


def test_a_config_that_disagrees_with_its_weights_is_one_error(grown_checkpoint, tmp_path):
    checkpoint = torch.load(grown_checkpoint[0], weights_only=False)
    entry = checkpoint["lightning_iter"]
    edited = tmp_path / "edited.ckpt"
    torch.save({**checkpoint, "lightning_iter": {**entry, "config": {**entry["config"], "ffn_dim": 96}}}, edited)
    with pytest.raises(CheckpointError, match=r"does not match its recorded model: size mismatch for layers.0.mlp"):
        load_model(edited)


def test_a_device_this_machine_lacks_is_one_error():
    from lightning_iter.errors import ConfigError
    from lightning_iter.loading import check_device

    assert check_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match=r"--device='cuda' is not allowed: this machine has no cuda device"):
            check_device("cuda")
    with pytest.raises(ConfigError, match=r"--device='gpu0' is not allowed"):
        check_device("gpu0")
