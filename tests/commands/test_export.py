"""`lightning_iter export`: a checkpoint becomes a Hugging Face directory that imports back to the same model."""

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from lightning_iter.cli import main
from lightning_iter.data import ByteTokenizer, HFTokenizer
from lightning_iter.loading import load_model
from tests.helpers import write_checkpoint

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hf"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "grown.ckpt"
    write_checkpoint(
        path, {"name": "lidas", "block_size": 1, "horizon": 2, "initial_depth": 2}, n_layers=3, max_steps=3
    )
    return path


def _logits(loaded, tokens):
    with torch.no_grad():
        return loaded.model(tokens)


def test_export_imports_back_to_the_same_model(checkpoint, tmp_path, capsys):
    out = tmp_path / "hf"
    assert main(["export", "--ckpt_path", str(checkpoint), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out.resolve()}" in printed and "has no tokenizer.json" not in printed
    assert {p.name for p in out.iterdir()} == {
        "config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "tokenizer_config.json"
    }  # fmt: skip
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and config["eos_token_id"] == ByteTokenizer.eos_id
    assert config["lightning_iter"]["tokenizer"] == {"kind": "bytes"}
    original, imported = load_model(checkpoint), load_model(f"hf:{out}")
    assert isinstance(imported.tokenizer, ByteTokenizer)
    assert imported.model.plan == original.model.plan == (0, 1, 2)
    tokens = torch.randint(0, 259, (2, 12))
    assert torch.equal(_logits(imported, tokens), _logits(original, tokens))


def test_repeated_plan_exports_unrolled_and_imports_tied(checkpoint, tmp_path):
    out = tmp_path / "rep"
    assert (
        main(["export", "--ckpt_path", str(checkpoint), "--out", str(out), "--repeat", "1:3x2", "--dtype", "bfloat16"])
        == 0
    )
    config = json.loads((out / "config.json").read_text())
    assert config["num_hidden_layers"] == 7 and config["torch_dtype"] == "bfloat16"
    with safe_open(out / "model.safetensors", "pt") as f:
        assert f.get_slice("model.layers.6.self_attn.q_proj.weight").get_dtype() == "BF16"
    original, imported = load_model(checkpoint, repeat="1:3x2", dtype="bfloat16"), load_model(f"hf:{out}")
    assert imported.model.n_unique == 3 and imported.model.plan == original.model.plan == (0, 1, 2, 1, 2, 1, 2)
    # Weights are compared (not bf16 logits): `load_model(dtype=...)` also casts the RoPE table, import keeps it fp32.
    ours, theirs = original.model.state_dict(), imported.model.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert theirs["embed_tokens.weight"].dtype == torch.bfloat16


def test_hf_tokenizer_travels_with_the_export(tmp_path):
    out = tmp_path / "tok"
    assert main(["export", "--ckpt_path", f"hf:{FIXTURES / 'tied_gqa'}", "--out", str(out)]) == 0
    source = json.loads((FIXTURES / "tied_gqa" / "tokenizer.json").read_text())
    assert json.loads((out / "tokenizer.json").read_text()) == source
    assert json.loads((out / "tokenizer_config.json").read_text())["eos_token"] == "<|endoftext|>"
    tokenizer = load_model(f"hf:{out}").tokenizer
    assert isinstance(tokenizer, HFTokenizer) and tokenizer.eos_id == 0
    assert tokenizer.encode("the cat sat") == HFTokenizer.from_file(FIXTURES / "tied_gqa").encode("the cat sat")


def test_export_errors_are_one_line(checkpoint, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    assert main(["export", "--ckpt_path", str(checkpoint), "--out", str(taken)]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    assert (taken / "keep.txt").read_text() == "mine"
    assert main(["export", "--ckpt_path", f"hf:{tmp_path / 'missing'}", "--out", str(tmp_path / "x")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_remote_code_export_keeps_the_plan_and_shards(checkpoint, tmp_path, capsys):
    out = tmp_path / "remote"
    argv = ["export", "--ckpt_path", str(checkpoint), "--repeat", "1:3x2", "--out", str(out)]
    assert main([*argv, "--format", "remote_code", "--max_shard_size", "40KB"]) == 0
    printed = capsys.readouterr().out
    assert "stored once (trust_remote_code model LightningIterForCausalLM, effective depth 7)" in printed
    assert "shards of at most 40KB + model.safetensors.index.json" in printed
    config = json.loads((out / "config.json").read_text())
    assert config["plan"] == [0, 1, 2, 1, 2, 1, 2] and config["auto_map"]["AutoModelForCausalLM"].startswith(
        "modeling_lightning_iter."
    )
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert {name.split(".")[2] for name in index["weight_map"] if ".layers." in name} == {"0", "1", "2"}
    assert (out / "modeling_lightning_iter.py").is_file() and (out / "tokenizer.json").is_file()
    # what transformers 4.x needs: a tokenizer class for pipelines, no token_type_ids for generate
    tokenizer_config = json.loads((out / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == tokenizer_config["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert tokenizer_config["model_input_names"] == ["input_ids", "attention_mask"]
    original, imported = load_model(checkpoint, repeat="1:3x2"), load_model(f"hf:{out}")
    assert imported.model.plan == original.model.plan and imported.model.n_unique == 3
    tokens = torch.randint(0, 259, (2, 12))
    assert torch.equal(_logits(imported, tokens), _logits(original, tokens))


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--format", "onnx"], "--format='onnx' is not allowed: choose one of llama, remote_code"),
        (["--max_shard_size", "lots"], "--max_shard_size='lots' is not allowed: give a positive size"),
    ],
)
def test_bad_export_flags_are_one_line(checkpoint, tmp_path, capsys, flags, message):
    assert main(["export", "--ckpt_path", str(checkpoint), "--out", str(tmp_path / "x"), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()
