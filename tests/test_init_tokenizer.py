"""`model.init_from=hf:DIR` with data tokenized by another tokenizer stops at start-up; an eos mismatch warns."""

import json
import shutil
import warnings
from pathlib import Path

import pytest
import torch

from lightning_iter.data import ByteTokenizer, HFTokenizer
from lightning_iter.errors import ConfigError
from lightning_iter.init_tokenizer import check_init_tokenizer
from lightning_iter.model import ModelConfig, Transformer
from lightning_iter.model.export import save_hf, tokenizer_files
from lightning_iter.module import LanguageModel
from tests.helpers import SMALL, small_data, trainer

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "hf"
BYTES = ByteTokenizer()
BYTE_IDS = {"bos": BYTES.bos_id, "eos": BYTES.eos_id, "pad": BYTES.pad_id}


def _byte_model() -> Transformer:
    torch.manual_seed(0)
    return Transformer(ModelConfig(vocab_size=BYTES.vocab_size, n_layers=1, **SMALL))


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    """Byte-vocabulary models exported with the byte tokenizer, with another (BPE) tokenizer, and with none."""
    root = tmp_path_factory.mktemp("init")
    bpe = (FIXTURES / "tied_gqa" / "tokenizer.json").read_text()
    bpe_ids = {"eos": 0, "bos": 0, "pad": None}
    return {
        "bytes": save_hf(
            _byte_model(),
            root / "bytes",
            token_ids=BYTE_IDS,
            extra={"tokenizer": BYTES.to_spec()},
            files=tokenizer_files(BYTES.to_tokenizer_json(), BYTE_IDS, split_special_tokens=True),
        ),
        "bpe": save_hf(_byte_model(), root / "bpe", token_ids=bpe_ids, files=tokenizer_files(bpe, bpe_ids)),
        "none": save_hf(_byte_model(), root / "none"),
    }


def test_same_tokenizer_passes_silently(dirs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_init_tokenizer(f"hf:{dirs['bytes']}", BYTES.to_spec())
        check_init_tokenizer(f"hf:{dirs['bytes']}", None)  # a data module without a tokenizer: nothing to compare


def test_other_tokenizer_is_one_clear_error(dirs):
    bpe = HFTokenizer.from_file(FIXTURES / "tied_gqa").to_spec()
    with pytest.raises(
        ConfigError, match=r"data is tokenized with the 'hf' tokenizer 'tied_gqa' .* trained with the 'bytes'"
    ):
        check_init_tokenizer(f"hf:{dirs['bytes']}", bpe)
    with pytest.raises(ConfigError, match=r"data is tokenized with the 'bytes' tokenizer, but .* 'hf' tokenizer"):
        check_init_tokenizer(f"hf:{dirs['bpe']}", BYTES.to_spec())


def test_eos_mismatch_and_a_missing_tokenizer_warn(dirs, tmp_path):
    """The tied_gqa fixture is what transformers' defaults write: config.json eos_token_id=2, tokenizer eos 0."""
    fixture = FIXTURES / "tied_gqa"
    own = HFTokenizer.from_file(fixture).to_spec()
    assert json.loads((fixture / "config.json").read_text())["eos_token_id"] == 2 and own["eos_id"] == 0
    with pytest.warns(UserWarning, match=r"config.json has eos_token_id=2, but the data's .* ends documents with id 0"):
        check_init_tokenizer(f"hf:{fixture}", own)
    fixed = shutil.copytree(fixture, tmp_path / "fixed")
    config = json.loads((fixed / "config.json").read_text())
    (fixed / "config.json").write_text(json.dumps({**config, "eos_token_id": [5, 0]}))  # Llama 3 lists several
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_init_tokenizer(f"hf:{fixed}", own)
    with pytest.warns(UserWarning, match="has no tokenizer.json .* cannot check"):
        check_init_tokenizer(f"hf:{dirs['none']}", BYTES.to_spec())


def test_fit_stops_at_start_up_on_another_tokenizer(dirs):
    """Byte data (PrimitivesDataModule) into a model whose directory carries a BPE tokenizer."""
    lm = LanguageModel(init_from=f"hf:{dirs['bpe']}", vocab_size=BYTES.vocab_size, warmup_steps=1)
    before = lm.model.layers[0].mlp.up_proj.weight.detach().clone()
    with pytest.raises(ConfigError, match="data tokenizer: the data is tokenized with the 'bytes' tokenizer"):
        trainer(max_steps=1).fit(lm, datamodule=small_data())
    assert torch.equal(lm.model.layers[0].mlp.up_proj.weight, before)  # nothing trained
    ok = LanguageModel(init_from=f"hf:{dirs['bytes']}", vocab_size=BYTES.vocab_size, warmup_steps=1)
    trainer(max_steps=1).fit(ok, datamodule=small_data())
    assert not torch.equal(ok.model.layers[0].mlp.up_proj.weight, before)
