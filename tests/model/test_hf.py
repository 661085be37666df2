"""Hugging Face import/export: transformers' logits on the fixtures, exact round trips, re-tied loops, clear errors.

The fixtures and their reference logits were written by transformers' own LlamaForCausalLM
(scripts/make_hf_fixtures.py, see DEVELOPERS.md); this environment never imports transformers.
"""

import json
import shutil
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from lightning_iter.data import ByteTokenizer, HFTokenizer
from lightning_iter.errors import CheckpointError, ConfigError
from lightning_iter.loading import load_model
from lightning_iter.model import ModelConfig, Transformer
from lightning_iter.model.export import save_hf
from lightning_iter.model.hf import from_hf, load_hf
from lightning_iter.module import LanguageModel
from tests.helpers import SMALL, small_data, trainer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hf"


def relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    return ((ours - reference).abs().max() / reference.abs().max()).item()


@pytest.mark.parametrize("name", ["tied_gqa", "untied_mha"])
def test_import_gives_transformers_logits(name):
    reference = load_file(FIXTURES / name / "reference_logits.safetensors")
    model = from_hf(FIXTURES / name)
    with torch.no_grad():
        logits = model(reference["input_ids"])
    assert logits.dtype == torch.float32
    assert relative_error(logits, reference["logits"]) <= 1e-5
    hf = json.loads((FIXTURES / name / "config.json").read_text())
    assert model.config.tie_embeddings == hf["tie_word_embeddings"] == (model.lm_head is None)
    assert model.config.n_kv_heads == hf["num_key_value_heads"] and model.n_unique == hf["num_hidden_layers"]
    assert model.config.rope_theta == hf["rope_parameters"]["rope_theta"]


def test_older_transformers_config_fields(tmp_path):
    """transformers 4.x writes rope_theta at the top level and torch_dtype; the same weights give the same logits."""
    directory = tmp_path / "old"
    shutil.copytree(FIXTURES / "untied_mha", directory)
    config = json.loads((directory / "config.json").read_text())
    config["rope_theta"] = config.pop("rope_parameters")["rope_theta"]
    config["torch_dtype"] = config.pop("dtype")
    config["rope_scaling"] = None
    config.pop("head_dim")
    (directory / "config.json").write_text(json.dumps(config))
    reference = load_file(directory / "reference_logits.safetensors")
    with torch.no_grad():
        logits = from_hf(directory)(reference["input_ids"])
    assert relative_error(logits, reference["logits"]) <= 1e-5


def test_hf_prefix_loads_model_and_tokenizer():
    loaded = load_model(f"hf:{FIXTURES / 'tied_gqa'}", repeat="0:2x1")
    assert isinstance(loaded.tokenizer, HFTokenizer)
    assert loaded.tokenizer.eos_id == 0 and loaded.tokenizer.decode(loaded.tokenizer.encode("the cat")) == "the cat"
    assert loaded.model.plan == (0, 1, 0, 1) and loaded.source.startswith("hf:")
    with pytest.raises(CheckpointError, match="no tokenizer.json"):
        load_model(f"hf:{FIXTURES / 'untied_mha'}")
    assert load_hf(FIXTURES / "untied_mha", dtype=torch.bfloat16)[0].embed_tokens.weight.dtype == torch.bfloat16


def _small(n_layers=2, plan=None, tie=True):
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=50, n_layers=n_layers, tie_embeddings=tie, **SMALL)
    model = Transformer(config, plan)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.1 * torch.randn_like(param))
    return model.eval()


def _assert_same(a: Transformer, b: Transformer):
    assert a.n_unique == b.n_unique and a.plan == b.plan and a.config.to_dict() == b.config.to_dict()
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    tokens = torch.randint(0, a.config.vocab_size, (2, 10))
    with torch.no_grad():
        assert torch.equal(a(tokens), b(tokens))


@pytest.mark.parametrize("tie", [True, False])
def test_round_trip_is_exact(tmp_path, tie):
    model = _small(tie=tie)
    out = save_hf(model, tmp_path / "hf")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dir left behind
    _assert_same(model, from_hf(out))


def test_looped_plan_is_unrolled_and_tied_again(tmp_path):
    model = _small(n_layers=3, plan=(0, 1, 2, 1, 2, 1, 2))
    out = save_hf(model, tmp_path / "loop")
    config = json.loads((out / "config.json").read_text())
    assert config["num_hidden_layers"] == 7 and config["lightning_iter"]["plan"] == [0, 1, 2, 1, 2, 1, 2]
    weights = load_file(out / "model.safetensors")
    assert torch.equal(weights["model.layers.1.mlp.up_proj.weight"], weights["model.layers.5.mlp.up_proj.weight"])
    _assert_same(model, from_hf(out))
    # Without our extra field the file is a plain 7-layer Llama with the same function.
    plain = load_hf(out, retie=False)[0]
    assert plain.n_unique == 7
    with torch.no_grad():
        tokens = torch.randint(0, 50, (1, 9))
        assert torch.equal(plain(tokens), model(tokens))


def test_changed_copy_is_imported_untied(tmp_path):
    out = save_hf(_small(n_layers=2, plan=(0, 1, 0, 1)), tmp_path / "loop")
    weights = load_file(out / "model.safetensors")
    weights["model.layers.2.mlp.up_proj.weight"] += 1.0  # someone fine-tuned the unrolled copy
    save_file(weights, str(out / "model.safetensors"))
    with pytest.warns(UserWarning, match="differs from the other copies"):
        model = from_hf(out)
    assert model.n_unique == 4 and model.plan == (0, 1, 2, 3)


def test_skipped_layers_are_dropped_from_the_export(tmp_path):
    model = _small(n_layers=3, plan=(0, 2))
    imported = from_hf(save_hf(model, tmp_path / "skip"))
    assert imported.n_unique == 2 and imported.plan == (0, 1)
    tokens = torch.randint(0, 50, (1, 6))
    with torch.no_grad():
        assert torch.equal(imported(tokens), model(tokens))


def test_export_refuses_a_non_empty_directory(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    with pytest.raises(ConfigError, match="not empty"):
        save_hf(_small(), tmp_path / "taken")
    save_hf(_small(), tmp_path / "taken", overwrite=True)
    assert not (tmp_path / "taken" / "file").exists() and (tmp_path / "taken" / "config.json").is_file()


# ---- bad directories --------------------------------------------------------------------------
def _copy(tmp_path, name="tied_gqa"):
    directory = tmp_path / name
    shutil.copytree(FIXTURES / name, directory)
    return directory


def _edit_config(directory, **changes):
    config = json.loads((directory / "config.json").read_text())
    for key, value in changes.items():
        if value is ...:
            config.pop(key)
        else:
            config[key] = value
    (directory / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    "changes, error, match",
    [
        ({"hidden_size": ...}, ConfigError, "no 'hidden_size'"),
        ({"architectures": ["MistralForCausalLM"]}, ConfigError, r"architectures=\['MistralForCausalLM'\]"),
        ({"architectures": ..., "model_type": "gpt2"}, ConfigError, "model_type='gpt2'"),
        (
            {"rope_parameters": {"rope_type": "llama3", "rope_theta": 5e5, "factor": 8.0}},
            ConfigError,
            "rope_parameters.rope_type='llama3'",
        ),
        ({"rope_scaling": {"type": "linear", "factor": 2.0}}, ConfigError, "rope_scaling.rope_type='linear'"),
        ({"attention_bias": True}, ConfigError, "attention_bias=True"),
        ({"mlp_bias": True}, ConfigError, "mlp_bias=True"),
        ({"sliding_window": 4096}, ConfigError, "sliding_window=4096"),
        ({"hidden_act": "gelu"}, ConfigError, "hidden_act='gelu'"),
        ({"head_dim": 16}, ConfigError, "head_dim=16"),
        (
            {"intermediate_size": 80},
            CheckpointError,
            r"mlp.gate_proj.weight has shape \[64, 32\], config.json implies \[80, 32\]",
        ),
        ({"num_hidden_layers": 3}, CheckpointError, r"missing tensors \['model.layers.2"),
        ({"tie_word_embeddings": False}, CheckpointError, r"missing tensors \['lm_head.weight'\]"),
        ({"num_attention_heads": 3}, ConfigError, "num_attention_heads=3 does not divide hidden_size=32"),
    ],
)
def test_bad_config_gives_one_clear_error(tmp_path, changes, error, match):
    directory = _copy(tmp_path)
    _edit_config(directory, **changes)
    with pytest.raises(error, match=match):
        from_hf(directory)


def test_bad_weights_give_one_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="is not a directory"):
        from_hf(tmp_path / "nowhere")
    directory = _copy(tmp_path)
    (directory / "config.json").unlink()
    with pytest.raises(CheckpointError, match="has no config.json"):
        from_hf(directory)
    directory = _copy(tmp_path / "a")
    (directory / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="has no weights: expected model.safetensors"):
        from_hf(directory)
    directory = _copy(tmp_path / "b", "untied_mha")
    (directory / "model-00002-of-00004.safetensors").unlink()
    with pytest.raises(CheckpointError, match="model-00002-of-00004.safetensors is missing"):
        from_hf(directory)
    directory = _copy(tmp_path / "c")
    weights = load_file(directory / "model.safetensors")
    weights["model.layers.0.extra.weight"] = torch.zeros(2)
    del weights["model.norm.weight"]
    save_file(weights, str(directory / "model.safetensors"))
    with pytest.raises(
        CheckpointError, match=r"missing tensors \['model.norm.weight'\], unexpected tensors \['model.layers.0.extra"
    ):
        from_hf(directory)
    directory = _copy(tmp_path / "d")
    data = (directory / "model.safetensors").read_bytes()
    (directory / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        from_hf(directory)


# ---- --model.init_from ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def byte_model_dir(tmp_path_factory):
    """A byte-vocabulary model exported as a Hugging Face directory (what `fit` data can train)."""
    torch.manual_seed(1)
    config = ModelConfig(vocab_size=ByteTokenizer.vocab_size, n_layers=2, **SMALL)
    model = Transformer(config)
    return save_hf(model, tmp_path_factory.mktemp("hf") / "bytes"), model


def test_init_from_starts_fit_from_the_imported_weights(byte_model_dir):
    directory, original = byte_model_dir
    with pytest.warns(
        UserWarning, match=r"saved with plan \[0, 1\]; depth strategy 'loop' trains it with plan \[0, 1, 1\]"
    ):
        lm = LanguageModel(
            init_from=f"hf:{directory}",
            vocab_size=ByteTokenizer.vocab_size,
            warmup_steps=1,
            arch_overrides={"kernels": "torch"},
            depth={"name": "loop", "layers": 1, "repeats": 2, "encode": 1},
        )
    assert lm.model.plan == (0, 1, 1) and lm.model.config.kernels == "torch"
    assert torch.equal(lm.model.layers[1].mlp.up_proj.weight, original.layers[1].mlp.up_proj.weight)
    trainer(max_steps=1).fit(lm, datamodule=small_data())
    assert not torch.equal(lm.model.layers[1].mlp.up_proj.weight, original.layers[1].mlp.up_proj.weight)


def test_init_from_rejects_what_cannot_start_from_the_import(byte_model_dir):
    directory, _ = byte_model_dir
    source = f"hf:{directory}"
    with pytest.raises(ConfigError, match="starts with 1 unique layers, but model.init_from"):
        LanguageModel(init_from=source, depth={"name": "lidas", "block_size": 1, "horizon": 10})
    grown = LanguageModel(
        init_from=source, depth={"name": "midas", "block_size": 1, "horizon": 10, "initial_depth": 2, "target_depth": 4}
    )
    assert grown.model.n_unique == 2 and grown.depth_strategy.growth_steps()
    with pytest.raises(ConfigError, match="model.vocab_size=300"):
        LanguageModel(init_from=source, vocab_size=300)
    with pytest.raises(ConfigError, match="arch_overrides.d_model=64 cannot change .* which has d_model=32"):
        LanguageModel(init_from=source, arch_overrides={"d_model": 64})
    assert LanguageModel(init_from=source, arch_overrides={"d_model": 32, "n_layers": 2}).model.n_unique == 2
    with pytest.raises(ConfigError, match="write hf:DIR"):
        LanguageModel(init_from=str(directory))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LanguageModel(init_from=source)  # baseline keeps the imported plan: no warning
