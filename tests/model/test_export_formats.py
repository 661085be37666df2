"""Hugging Face export: the byte tokenizer as tokenizer.json, sharded weights, the trust_remote_code format.

`tests/fixtures/hf/looped_remote` was written by scripts/make_hf_fixtures.py in the separate transformers
environment (DEVELOPERS.md): our `remote_code` export of a tiny looped model, loaded by transformers with
`trust_remote_code=True`, whose logits and `AutoTokenizer` outputs are the references here.
"""

import json
from functools import cache
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import load_file
from tokenizers import Tokenizer as Backend

from lightning_iter.data import ByteTokenizer
from lightning_iter.errors import CheckpointError, ConfigError
from lightning_iter.model import ModelConfig, Transformer
from lightning_iter.model.export import (
    REMOTE_CODE_DIR,
    REMOTE_CODE_FILES,
    parse_shard_size,
    save_hf,
    tokenizer_files,
)
from lightning_iter.model.hf import INDEX_FILE, WEIGHTS_FILE, from_hf, load_hf
from tests.helpers import SMALL

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "hf" / "looped_remote"
BYTES = ByteTokenizer()


def _byte_files() -> dict[str, str]:
    ids = {"bos": BYTES.bos_id, "eos": BYTES.eos_id, "pad": BYTES.pad_id}
    return tokenizer_files(BYTES.to_tokenizer_json(), ids, split_special_tokens=True)


@cache
def _backend() -> Backend:
    """The exported tokenizer.json as transformers runs it (`split_special_tokens` from tokenizer_config.json)."""
    backend = Backend.from_str(BYTES.to_tokenizer_json())
    backend.encode_special_tokens = json.loads(_byte_files()["tokenizer_config.json"])["split_special_tokens"]
    return backend


# ---- the byte tokenizer as tokenizer.json -------------------------------------------------------
def test_byte_tokenizer_json_names_our_special_ids():
    backend, config = _backend(), json.loads(_byte_files()["tokenizer_config.json"])
    assert backend.get_vocab_size() == BYTES.vocab_size
    assert [backend.token_to_id(config[f"{r}_token"]) for r in ("pad", "bos", "eos")] == [256, 257, 258]
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40) | st.sampled_from(["<eos>", "a<pad>b<bos>", "naïve 日本語 🎉", " \t\n"]))
def test_byte_tokenizer_json_encodes_like_ours(text):
    assert _backend().encode(text, add_special_tokens=False).ids == BYTES.encode(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, BYTES.vocab_size - 1), max_size=30))
def test_byte_tokenizer_json_decodes_like_ours(ids):
    """Special ids dropped, broken UTF-8 replaced, as `ByteTokenizer.decode` does (random ids break UTF-8 often)."""
    assert _backend().decode(ids, skip_special_tokens=True) == BYTES.decode(ids)


def test_transformers_autotokenizer_agreed_with_ours():
    """What transformers' AutoTokenizer did with the exported tokenizer.json (recorded in the fixture)."""
    recorded = json.loads((FIXTURE / "tokenizer_reference.json").read_text(encoding="utf-8"))
    assert any(ord(c) > 127 for text in recorded["texts"] for c in text) and "<eos>" in "".join(recorded["texts"])
    assert recorded["ids"] == [BYTES.encode(text) for text in recorded["texts"]]
    assert recorded["decoded"] == [BYTES.decode(BYTES.encode(text, eos=True)) for text in recorded["texts"]]
    assert (recorded["eos_token"], recorded["eos_token_id"]) == ("<eos>", BYTES.eos_id)
    assert (FIXTURE / "tokenizer.json").read_text(encoding="utf-8") == BYTES.to_tokenizer_json()


# ---- trust_remote_code export -------------------------------------------------------------------
def test_remote_code_export_matches_the_transformers_fixture(tmp_path):
    """Our re-export of the fixture's model writes the same modeling files, one copy per unique layer, and our
    logits equal those transformers computed with the fixture's modeling file."""
    fixture_config = json.loads((FIXTURE / "config.json").read_text())
    model = from_hf(FIXTURE)
    assert model.plan == tuple(fixture_config["plan"]) == (0, 1, 2, 1, 2, 1, 2, 3) and model.n_unique == 4
    reference = load_file(FIXTURE / "reference_logits.safetensors")
    with torch.no_grad():
        logits = model(reference["input_ids"])
    assert ((logits - reference["logits"]).abs().max() / reference["logits"].abs().max()).item() <= 1e-6

    out = save_hf(model, tmp_path / "remote", format="remote_code", files=_byte_files())
    for name in REMOTE_CODE_FILES:  # a changed modeling file needs a regenerated fixture
        assert (out / name).read_bytes() == (FIXTURE / name).read_bytes() == (REMOTE_CODE_DIR / name).read_bytes()
    config = json.loads((out / "config.json").read_text())
    for key in ("architectures", "model_type", "auto_map", "plan", "num_unique_layers", "num_hidden_layers"):
        assert config[key] == fixture_config[key], key
    weights, stored = load_file(out / WEIGHTS_FILE), load_file(FIXTURE / WEIGHTS_FILE)
    layers = {name.split(".")[2] for name in weights if name.startswith("model.layers.")}
    assert layers == {"0", "1", "2", "3"}  # one copy per unique layer, not one per plan position (8)
    assert len(weights) == 2 + 9 * 4 and "lm_head.weight" not in weights  # embedding, final norm; tied head
    assert weights.keys() == stored.keys() and all(torch.equal(weights[k], stored[k]) for k in weights)


def test_remote_code_export_stores_each_used_layer_once(tmp_path):
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=50, n_layers=4, tie_embeddings=False, **SMALL), (0, 2, 3, 2, 3)).eval()
    out = save_hf(model, tmp_path / "r", format="remote_code")
    config = json.loads((out / "config.json").read_text())
    assert config["plan"] == [0, 1, 2, 1, 2] and config["num_unique_layers"] == 3  # unused layer 1 dropped
    with safe_open(out / WEIGHTS_FILE, "pt") as f:
        names = list(f.keys())
    assert "lm_head.weight" in names and max(int(n.split(".")[2]) for n in names if ".layers." in n) == 2
    imported = from_hf(out)
    assert imported.plan == (0, 1, 2, 1, 2) and imported.n_unique == 3
    tokens = torch.randint(0, 50, (2, 9))
    with torch.no_grad():
        assert torch.equal(imported(tokens), model(tokens))


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"plan": [0, 5]}, "plan"),
        ({"num_unique_layers": 0}, "num_unique_layers"),
        ({"plan": "0 1"}, "plan"),
    ],
)
def test_bad_remote_code_config_is_one_clear_error(tmp_path, changes, match):
    out = save_hf(Transformer(ModelConfig(vocab_size=50, n_layers=2, **SMALL)), tmp_path / "r", format="remote_code")
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**config, **changes}))
    with pytest.raises(CheckpointError, match=match):
        load_hf(out)


def test_unknown_format_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match=r"--format='gguf' is not allowed: choose one of llama, remote_code"):
        save_hf(Transformer(ModelConfig(vocab_size=50, n_layers=1, **SMALL)), tmp_path / "x", format="gguf")
    assert not (tmp_path / "x").exists()


# ---- sharding -----------------------------------------------------------------------------------
@pytest.mark.parametrize("format", ["llama", "remote_code"])
def test_sharded_export_writes_the_standard_index_and_imports_back(tmp_path, format):
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=50, n_layers=3, **SMALL), (0, 1, 2, 1, 2)).eval()
    out = save_hf(model, tmp_path / "sharded", format=format, max_shard_size="20KB")
    index = json.loads((out / INDEX_FILE).read_text())
    shards = sorted(p.name for p in out.glob("model-*.safetensors"))
    assert len(shards) > 2 and shards == sorted(set(index["weight_map"].values())) and not (out / WEIGHTS_FILE).exists()
    assert shards[-1] == f"model-{len(shards):05d}-of-{len(shards):05d}.safetensors"
    total = 0
    for shard in shards:
        tensors = load_file(out / shard)
        size = sum(t.numel() * t.element_size() for t in tensors.values())
        assert size <= 20_000 or len(tensors) == 1  # a tensor above the limit gets a shard of its own
        assert all(index["weight_map"][name] == shard for name in tensors)
        total += size
    assert index["metadata"]["total_size"] == total
    imported = from_hf(out)
    assert imported.plan == model.plan and imported.n_unique == 3
    tokens = torch.randint(0, 50, (1, 7))
    with torch.no_grad():
        assert torch.equal(imported(tokens), model(tokens))


def test_default_export_is_one_file(tmp_path):
    out = save_hf(Transformer(ModelConfig(vocab_size=50, n_layers=2, **SMALL)), tmp_path / "one")
    assert (out / WEIGHTS_FILE).is_file() and not (out / INDEX_FILE).exists()
    assert not list(out.glob("model-*.safetensors"))


@pytest.mark.parametrize(
    "value, expected",
    [
        ("5GB", 5 * 10**9),
        ("50GB", 50 * 10**9),
        ("2GiB", 2 * 2**30),
        ("500kb", 500_000),
        (1000, 1000),
        ("1.5MB", 1_500_000),
    ],
)
def test_shard_sizes_read_like_transformers(value, expected):
    assert parse_shard_size(value) == expected


@pytest.mark.parametrize("value", ["", "5XB", "0", "0.1B", "-1GB", "GB", "five"])
def test_bad_shard_size_is_one_clear_error(value):
    with pytest.raises(ConfigError, match=r"--max_shard_size=.* is not allowed: give a positive size"):
        parse_shard_size(value)
