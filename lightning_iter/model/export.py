"""Hugging Face export (the library side of `lightning_iter export`): a `Transformer` becomes a model directory.

Two formats. `llama` (the default): a plain `LlamaForCausalLM` that `transformers` loads with the same logits; a
plan that reuses layers (loops, `--repeat`) is unrolled into copies and recorded under `config["lightning_iter"]`,
from which `model.hf.load_hf` ties the copies again. `remote_code`: each unique layer stored once, the plan in
config.json, and our own modeling files (`model/hf_remote/`) beside them for `trust_remote_code=True`.
Weights above `max_shard_size` are split into shards with the standard index file. Plain torch + json: this
module never imports `transformers`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from ..atomic import replace_dir, staging_dir
from ..errors import ConfigError, check_choice
from .hf import (
    ARCHITECTURE,
    CONFIG_FILE,
    DTYPE_NAMES,
    EXTRA_KEY,
    INDEX_FILE,
    MODEL_TYPE,
    REMOTE_ARCHITECTURE,
    REMOTE_MODEL_TYPE,
    WEIGHTS_FILE,
)
from .transformer import Transformer

FORMATS = ("llama", "remote_code")  # llama: plain LlamaForCausalLM, plan unrolled (the default everyone loads)
DEFAULT_MAX_SHARD_SIZE = "50GB"  # transformers' save_pretrained default (5.x; 4.x used 5GB)
REMOTE_CODE_DIR = Path(__file__).resolve().parent / "hf_remote"
REMOTE_CODE_FILES = ("configuration_lightning_iter.py", "modeling_lightning_iter.py")
AUTO_MAP = {
    "AutoConfig": "configuration_lightning_iter.LightningIterConfig",
    "AutoModelForCausalLM": "modeling_lightning_iter.LightningIterForCausalLM",
}
_SIZE_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
_SIZE_UNITS |= {"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_shard_size(value: str | int, field: str = "--max_shard_size") -> int:
    """Bytes of a transformers-style size ("5GB" = 5e9, "500MiB", or an int number of bytes); positive."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?I?B?)\s*", str(value), flags=re.IGNORECASE)
    unit = match.group(2).upper() if match else None
    if match is None or unit not in _SIZE_UNITS or float(match.group(1)) * _SIZE_UNITS[unit] < 1:
        raise ConfigError(
            f"{field}={value!r} is not allowed: give a positive size such as 5GB, 500MB, 2GiB or a number of bytes"
        )
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def tokenizer_files(
    json_text: str | None, token_ids: dict[str, int | None], *, split_special_tokens: bool = False
) -> dict[str, str]:
    """`tokenizer.json` + a `tokenizer_config.json` naming its special tokens (for `AutoTokenizer`); none without
    a tokenizer JSON. `split_special_tokens` encodes the specials' spellings in text as plain text (byte tokenizer)."""
    if not isinstance(json_text, str):
        return {}
    from tokenizers import Tokenizer as Backend

    backend = Backend.from_str(json_text)
    # model_input_names: no token_type_ids, which transformers 4.x's generate rejects for causal LMs
    config: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_input_names": ["input_ids", "attention_mask"],
    }
    for role in ("bos", "eos", "pad"):
        token_id = token_ids.get(role)
        if token_id is not None and backend.id_to_token(token_id) is not None:
            config[f"{role}_token"] = backend.id_to_token(token_id)
    if split_special_tokens:
        config["split_special_tokens"] = True
    return {"tokenizer.json": json_text, "tokenizer_config.json": json.dumps(config, indent=2) + "\n"}


def hf_config(
    model: Transformer,
    *,
    dtype: torch.dtype,
    token_ids: dict[str, int | None] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The `config.json` of `model` unrolled along its plan, as `LlamaForCausalLM` (transformers 4.x and 5.x)."""
    config = model.config
    if config.ln_scaling:
        raise ConfigError(
            "model.ln_scaling=True has no Hugging Face Llama equivalent (its norms would lose the 1/sqrt(l) scale): "
            "LN-Scaling checkpoints cannot be exported"
        )
    used = sorted(set(model.plan))
    plan = [used.index(i) for i in model.plan]
    token_ids = token_ids or {}
    return {
        "architectures": [ARCHITECTURE],
        "model_type": MODEL_TYPE,
        "vocab_size": config.vocab_size,
        "hidden_size": config.d_model,
        "intermediate_size": config.ffn_dim,
        "num_hidden_layers": len(plan),
        "num_attention_heads": config.n_heads,
        "num_key_value_heads": config.n_kv_heads,
        "head_dim": config.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": config.max_seq_len,
        "rms_norm_eps": config.norm_eps,
        "rope_theta": config.rope_theta,
        "rope_scaling": None,
        "rope_parameters": {"rope_type": "default", "rope_theta": config.rope_theta},
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "pretraining_tp": 1,
        "tie_word_embeddings": config.tie_embeddings,
        "initializer_range": config.init_std,
        "torch_dtype": DTYPE_NAMES[dtype],
        "use_cache": True,
        "bos_token_id": token_ids.get("bos"),
        "eos_token_id": token_ids.get("eos"),
        "pad_token_id": token_ids.get("pad"),
        EXTRA_KEY: {"plan": plan, "unique_layers": len(used), "config": config.to_dict(), **(extra or {})},
    }


def remote_config(
    model: Transformer,
    *,
    dtype: torch.dtype,
    token_ids: dict[str, int | None] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The `config.json` of the `remote_code` format: the Llama fields with each used layer once, plus the plan."""
    config = hf_config(model, dtype=dtype, token_ids=token_ids, extra=extra)
    plan, n_unique = config[EXTRA_KEY]["plan"], config[EXTRA_KEY]["unique_layers"]
    dropped = ("rope_scaling", "rope_parameters", "attention_bias", "attention_dropout", "mlp_bias", "pretraining_tp")
    config = {key: value for key, value in config.items() if key not in dropped}
    return {
        **config,
        "architectures": [REMOTE_ARCHITECTURE],
        "model_type": REMOTE_MODEL_TYPE,
        "auto_map": dict(AUTO_MAP),
        "num_unique_layers": n_unique,
        "plan": plan,
        "use_cache": False,
        "tokenizer_class": "PreTrainedTokenizerFast",  # else transformers 4.x pipelines load no tokenizer for it
    }


def hf_state_dict(model: Transformer, dtype: torch.dtype, *, unrolled: bool = True) -> dict[str, torch.Tensor]:
    """HF tensor names -> weights: one layer per plan position (repeated layers copied) when `unrolled`, else each
    layer the plan uses once, renumbered in order (the `remote_code` format)."""
    out = {"model.embed_tokens.weight": model.embed_tokens.weight, "model.norm.weight": model.norm.weight}
    if model.lm_head is not None:
        out["lm_head.weight"] = model.lm_head.weight
    indices = list(model.plan) if unrolled else sorted(set(model.plan))
    for position, index in enumerate(indices):
        for key, tensor in model.layers[index].state_dict().items():
            out[f"model.layers.{position}.{key}"] = tensor
    return {name: t.detach().to("cpu", dtype).contiguous().clone() for name, t in out.items()}


def write_weights(state: dict[str, torch.Tensor], directory: Path, max_shard_size: int) -> list[str]:
    """`model.safetensors`, or above `max_shard_size` bytes `model-0000k-of-0000n.safetensors` shards plus
    `model.safetensors.index.json` ({"metadata": {"total_size", ...}, "weight_map"}), as save_pretrained writes;
    returns the weight files' names."""
    from huggingface_hub import split_torch_state_dict_into_shards
    from safetensors.torch import save_file

    split = split_torch_state_dict_into_shards(state, max_shard_size=max_shard_size)
    for filename, names in split.filename_to_tensors.items():
        save_file({name: state[name] for name in names}, str(directory / filename), metadata={"format": "pt"})
    if split.is_sharded:
        index = {
            "metadata": {"total_parameters": sum(t.numel() for t in state.values()), **split.metadata},
            "weight_map": dict(sorted(split.tensor_to_filename.items())),
        }
        (directory / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    assert split.is_sharded or list(split.filename_to_tensors) == [WEIGHTS_FILE]
    return list(split.filename_to_tensors)


def save_hf(
    model: Transformer,
    out: str | Path,
    *,
    dtype: torch.dtype | None = None,
    token_ids: dict[str, int | None] | None = None,
    extra: dict[str, Any] | None = None,
    files: dict[str, str] | None = None,
    overwrite: bool = False,
    format: str = "llama",
    max_shard_size: str | int = DEFAULT_MAX_SHARD_SIZE,
) -> Path:
    """Write `model` as a Hugging Face directory atomically (temp dir, then rename); returns its path.

    `format` is one of `FORMATS` (module docstring); weights above `max_shard_size` are sharded. `files` are
    extra text files written beside the weights (e.g. `tokenizer.json`); `extra` goes into
    `config["lightning_iter"]` next to the plan.
    """
    check_choice("--format", format, FORMATS)
    shard_bytes = parse_shard_size(max_shard_size)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise ConfigError(
            f"--out={out} already exists and is not empty: choose a new directory or pass --overwrite true"
        )
    dtype = dtype or next(model.parameters()).dtype
    remote = format == "remote_code"
    build = remote_config if remote else hf_config
    config = build(model, dtype=dtype, token_ids=token_ids, extra=extra)
    staging = staging_dir(out)
    try:
        write_weights(hf_state_dict(model, dtype, unrolled=not remote), staging, shard_bytes)
        if remote:
            for name in REMOTE_CODE_FILES:
                shutil.copyfile(REMOTE_CODE_DIR / name, staging / name)
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        generation = {k: config[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id") if config[k] is not None}
        if generation:
            (staging / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n", encoding="utf-8")
        for name, text in (files or {}).items():
            (staging / name).write_text(text, encoding="utf-8")
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)  # mkdtemp and safetensors create private (0700/0600) paths
        for path in staging.iterdir():
            path.chmod(0o666 & ~umask)
        replace_dir(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out
