"""Hugging Face export (the library side of `lightning_iter export`): a `Transformer` becomes a Llama directory.

The directory is a plain `LlamaForCausalLM` that `transformers` loads with the same logits; a plan that
reuses layers (loops, `--repeat`) is unrolled into copies and recorded under `config["lightning_iter"]`,
from which `model.hf.load_hf` ties the copies again. Plain torch + json: this module never imports `transformers`.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from ..atomic import replace_dir, staging_dir
from ..errors import ConfigError
from .hf import ARCHITECTURE, CONFIG_FILE, DTYPE_NAMES, EXTRA_KEY, MODEL_TYPE, WEIGHTS_FILE
from .transformer import Transformer


def tokenizer_files(spec: dict[str, Any]) -> dict[str, str]:
    """`tokenizer.json` (+ a `tokenizer_config.json` naming the special tokens) of a Hugging Face tokenizer spec."""
    if not isinstance(spec.get("json"), str):
        return {}
    from tokenizers import Tokenizer as Backend

    backend = Backend.from_str(spec["json"])
    config: dict[str, Any] = {"tokenizer_class": "PreTrainedTokenizerFast"}
    for role in ("bos", "eos", "pad"):
        token_id = spec.get(f"{role}_id")
        if token_id is not None and backend.id_to_token(token_id) is not None:
            config[f"{role}_token"] = backend.id_to_token(token_id)
    return {"tokenizer.json": spec["json"], "tokenizer_config.json": json.dumps(config, indent=2) + "\n"}


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


def hf_state_dict(model: Transformer, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """HF tensor names -> weights, one distinct layer per plan position (repeated layers are copied)."""
    out = {"model.embed_tokens.weight": model.embed_tokens.weight, "model.norm.weight": model.norm.weight}
    if model.lm_head is not None:
        out["lm_head.weight"] = model.lm_head.weight
    for position, index in enumerate(model.plan):
        for key, tensor in model.layers[index].state_dict().items():
            out[f"model.layers.{position}.{key}"] = tensor
    return {name: t.detach().to("cpu", dtype).contiguous().clone() for name, t in out.items()}


def save_hf(
    model: Transformer,
    out: str | Path,
    *,
    dtype: torch.dtype | None = None,
    token_ids: dict[str, int | None] | None = None,
    extra: dict[str, Any] | None = None,
    files: dict[str, str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write `model` as a Hugging Face Llama directory atomically (temp dir, then rename); returns its path.

    `files` are extra text files written beside the weights (e.g. `tokenizer.json`); `extra` goes into
    `config["lightning_iter"]` next to the plan.
    """
    from safetensors.torch import save_file

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise ConfigError(
            f"--out={out} already exists and is not empty: choose a new directory or pass --overwrite true"
        )
    dtype = dtype or next(model.parameters()).dtype
    config = hf_config(model, dtype=dtype, token_ids=token_ids, extra=extra)
    staging = staging_dir(out)
    try:
        save_file(hf_state_dict(model, dtype), str(staging / WEIGHTS_FILE), metadata={"format": "pt"})
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
