"""Hugging Face import: a local Llama-family directory becomes a `Transformer`; the names both directions share.

Import reads `config.json` and the safetensors weights (one file, or shards listed by
`model.safetensors.index.json`) tensor by tensor straight into parameters allocated once, so the
peak memory stays near the model's own size. Layers our export unrolled from a plan that reuses them
(`model.export`, recorded under `config["lightning_iter"]`) are tied again; a `remote_code` export
(`model_type: lightning_iter`) stores each unique layer once and its plan in config.json.
Plain torch + json: this module never imports `transformers`.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, ConfigError, PlanError
from .config import ModelConfig
from .layers import RotaryEmbedding
from .plan import Plan, identity_plan, validate_plan
from .transformer import Transformer

ARCHITECTURE = "LlamaForCausalLM"
MODEL_TYPE = "llama"
REMOTE_ARCHITECTURE = "LightningIterForCausalLM"  # our export's `remote_code` format (model/hf_remote/)
REMOTE_MODEL_TYPE = "lightning_iter"
EXTRA_KEY = "lightning_iter"  # our extra field in config.json: the plan that ties the exported copies
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
REQUIRED_FIELDS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
# Config fields our model can override when importing (they do not change the weights' shapes).
IMPORT_OVERRIDES = ("kernels", "max_seq_len", "init_std", "name", "activation_checkpointing")

_SAFETENSORS_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
DTYPE_NAMES = {torch.float64: "float64", torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}
_HF_FIELD_NAMES = {
    "model.vocab_size": "vocab_size",
    "model.d_model": "hidden_size",
    "model.n_layers": "num_hidden_layers",
    "model.n_heads": "num_attention_heads",
    "model.n_kv_heads": "num_key_value_heads",
    "model.ffn_dim": "intermediate_size",
    "model.max_seq_len": "max_position_embeddings",
    "model.rope_theta": "rope_theta",
    "model.norm_eps": "rms_norm_eps",
    "model.init_std": "initializer_range",
}
_IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)  # old checkpoints store the RoPE table; we compute it


# ---- config ---------------------------------------------------------------------------------
def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(
            f"{path.parent} has no {path.name}: a Hugging Face model directory needs {what}"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} holds a {type(data).__name__}, not a JSON object")
    return data


def _reject(source: str, field: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"{source}: {field}={value!r} is not supported: {allowed}")


def _rope_theta(data: dict[str, Any], source: str) -> float:
    """RoPE base from `rope_parameters` (transformers >= 5), `rope_scaling` or top-level `rope_theta` (older)."""
    theta = data.get("rope_theta")
    for key in ("rope_scaling", "rope_parameters"):  # the newer field wins
        params = data.get(key)
        if params is None:
            continue
        if not isinstance(params, dict):
            _reject(source, key, params, "expected a JSON object or null")
        kind = params.get("rope_type", params.get("type", "default"))
        if kind != "default":
            _reject(
                source, f"{key}.rope_type", kind, "RoPE scaling variants are not implemented; only 'default' RoPE is"
            )
        factor = params.get("partial_rotary_factor", 1.0)
        if factor != 1.0:
            _reject(source, f"{key}.partial_rotary_factor", factor, "only full-width RoPE (1.0) is implemented")
        if params.get("rope_theta") is not None:
            theta = params["rope_theta"]
    return float(10_000.0 if theta is None else theta)


def _check_supported(data: dict[str, Any], source: str) -> None:
    """Reject, by name, every Llama-family feature our `Transformer` does not implement."""
    architectures = data.get("architectures")
    if architectures is not None and architectures != [ARCHITECTURE]:
        _reject(
            source,
            "architectures",
            architectures,
            f"only [{ARCHITECTURE!r}] (Llama, SmolLM, TinyLlama) can be imported",
        )
    model_type = data.get("model_type", MODEL_TYPE if architectures else None)
    if model_type != MODEL_TYPE:
        _reject(source, "model_type", model_type, f"only {MODEL_TYPE!r} models can be imported")
    for field in ("hidden_act", "hidden_activation"):
        if field in data and data[field] not in ("silu", "swish"):
            _reject(source, field, data[field], "the MLP is SwiGLU, so only 'silu' is implemented")
    for field in ("attention_bias", "mlp_bias"):
        if data.get(field):
            _reject(source, field, data[field], "the projections have no biases (false only)")
    if data.get("sliding_window") is not None or data.get("use_sliding_window"):
        _reject(source, "sliding_window", data.get("sliding_window"), "attention is full causal attention (null only)")
    layer_types = data.get("layer_types")
    if layer_types is not None and any(kind != "full_attention" for kind in layer_types):
        _reject(source, "layer_types", sorted(set(layer_types)), "only 'full_attention' layers are implemented")
    if data.get("quantization_config") is not None:
        _reject(
            source,
            "quantization_config",
            data["quantization_config"].get("quant_method", "?")
            if isinstance(data["quantization_config"], dict)
            else data["quantization_config"],
            "only unquantized float weights can be imported",
        )


def config_from_hf(data: dict[str, Any], source: str = "config.json") -> ModelConfig:
    """Our `ModelConfig` (every HF layer a unique layer) for a Llama-family `config.json` dict."""
    _check_supported(data, source)
    missing = [field for field in REQUIRED_FIELDS if data.get(field) is None]
    if missing:
        raise ConfigError(f"{source} has no {missing[0]!r}: a Llama config needs {', '.join(REQUIRED_FIELDS)}")
    hidden, heads = data["hidden_size"], data["num_attention_heads"]
    head_dim = data.get("head_dim")
    if (
        head_dim is not None
        and isinstance(hidden, int)
        and isinstance(heads, int)
        and heads
        and not hidden % heads
        and head_dim != hidden // heads
    ):
        _reject(
            source,
            "head_dim",
            head_dim,
            f"our model ties the head width to hidden_size/num_attention_heads={hidden // heads}",
        )
    name = data.get(EXTRA_KEY, {}).get("config", {}).get("name") if isinstance(data.get(EXTRA_KEY), dict) else None
    try:
        return ModelConfig(
            vocab_size=data["vocab_size"],
            d_model=hidden,
            n_layers=data["num_hidden_layers"],
            n_heads=heads,
            n_kv_heads=data.get("num_key_value_heads") or heads,
            ffn_dim=data["intermediate_size"],
            max_seq_len=data.get("max_position_embeddings") or 2048,
            rope_theta=_rope_theta(data, source),
            norm_eps=float(data.get("rms_norm_eps", 1e-6)),
            tie_embeddings=bool(data.get("tie_word_embeddings", False)),  # LlamaConfig's default is untied
            init_std=float(data.get("initializer_range", 0.02)),
            name=name or "hf",
        )
    except ConfigError as err:
        message = str(err)
        for ours, theirs in _HF_FIELD_NAMES.items():
            message = message.replace(ours, theirs)
        raise ConfigError(f"{source}: {message}") from None


def _remote_plan(data: dict[str, Any], source: str) -> tuple[dict[str, Any], int, Plan]:
    """A `remote_code` export's config as the Llama config of its unique layers, their count and the plan."""
    n_unique, plan = data.get("num_unique_layers"), data.get("plan")
    if not isinstance(n_unique, int) or isinstance(n_unique, bool) or n_unique < 1 or not isinstance(plan, list):
        raise CheckpointError(
            f"{source}: a model_type={REMOTE_MODEL_TYPE!r} config needs 'num_unique_layers' (a positive int) and "
            f"'plan' (a list of layer indices); it has num_unique_layers={n_unique!r}, plan={plan!r}"
        )
    try:
        plan = validate_plan(plan, n_unique, "plan")
    except PlanError as err:
        raise CheckpointError(f"{source}: {err}") from None
    llama = {**data, "architectures": [ARCHITECTURE], "model_type": MODEL_TYPE, "num_hidden_layers": n_unique}
    return llama, n_unique, plan


def _tied_plan(data: dict[str, Any], source: str) -> tuple[int, Plan] | None:
    """(unique layers, plan) recorded by our export, or None when the directory holds a plain model."""
    extra = data.get(EXTRA_KEY)
    if extra is None:
        return None
    try:
        n_unique = extra["unique_layers"]
        plan = validate_plan(extra["plan"], n_unique, f"{EXTRA_KEY}.plan")
    except (TypeError, KeyError, PlanError) as err:
        raise CheckpointError(
            f"{source}: field {EXTRA_KEY!r} is malformed ({err}): it needs 'plan' and 'unique_layers'"
        ) from None
    if len(plan) != data["num_hidden_layers"] or set(plan) != set(range(n_unique)):
        raise CheckpointError(
            f"{source}: {EXTRA_KEY}.plan={list(plan)} does not unroll into "
            f"num_hidden_layers={data['num_hidden_layers']} "
            f"layers using all {n_unique} unique layers"
        )
    return n_unique, plan


# ---- safetensors, read tensor by tensor --------------------------------------------------------
class _SafetensorsFile:
    """Names, shapes and dtypes of one safetensors file; `read` returns tensors through `safe_open`.

    `safe_open` memory-maps the file: a tensor read at its stored dtype is backed by a private,
    copy-on-write mapping (one copy of the weights, paged in as they are used); a converted tensor is
    copied and its mapping dropped, so a conversion holds one tensor of the stored dtype at a time.
    """

    def __init__(self, path: Path) -> None:
        from safetensors import SafetensorError, safe_open

        self.path = path
        if not path.is_file():
            raise CheckpointError(f"weights file {path} is missing")
        try:
            with safe_open(str(path), framework="pt") as handle:
                slices = {name: handle.get_slice(name) for name in handle.keys()}
                self.shapes = {name: tuple(s.get_shape()) for name, s in slices.items()}
                self.dtypes = {name: s.get_dtype() for name, s in slices.items()}
        except (SafetensorError, OSError) as err:
            raise CheckpointError(f"{path} is not a valid safetensors file (truncated or corrupt?): {err}") from None
        self.entries = list(self.shapes)

    def shape(self, name: str) -> tuple[int, ...]:
        return self.shapes[name]

    def stored_dtype(self, name: str) -> torch.dtype:
        stored = _SAFETENSORS_DTYPES.get(self.dtypes[name])
        if stored is None:
            raise CheckpointError(
                f"{self.path}: tensor {name!r} has dtype {self.dtypes[name]!r}: "
                f"only {', '.join(_SAFETENSORS_DTYPES)} weights load"
            )
        return stored

    def read(self, name: str, dtype: torch.dtype | None) -> torch.Tensor:
        """Tensor `name`, converted to `dtype`; a converted tensor's mapping is closed before the next read."""
        from safetensors import safe_open

        stored = self.stored_dtype(name)
        with safe_open(str(self.path), framework="pt") as handle:
            tensor = handle.get_tensor(name)
        return tensor if dtype is None or stored == dtype else tensor.to(dtype)


def _weight_files(directory: Path) -> list[_SafetensorsFile]:
    single, index = directory / WEIGHTS_FILE, directory / INDEX_FILE
    if index.is_file():
        weight_map = _read_json(index, "an index").get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise CheckpointError(f"{index} has no 'weight_map': it must map tensor names to shard files")
        return [_SafetensorsFile(directory / name) for name in sorted(set(weight_map.values()))]
    if single.is_file():
        return [_SafetensorsFile(single)]
    others = sorted(p.name for p in directory.glob("*.bin")) + sorted(p.name for p in directory.glob("*.pth"))
    hint = f" (it holds {others[0]}: re-save it with safe_serialization=True)" if others else ""
    raise CheckpointError(f"{directory} has no weights: expected {WEIGHTS_FILE} or {INDEX_FILE}{hint}")


# ---- import ---------------------------------------------------------------------------------
def _hf_names(config: ModelConfig, plan: Plan, layer_keys: list[str]) -> dict[str, str]:
    """HF tensor name -> our state-dict name for the unrolled `plan` (copies of a layer map to the same name)."""
    names = {"model.embed_tokens.weight": "embed_tokens.weight", "model.norm.weight": "norm.weight"}
    if not config.tie_embeddings:
        names["lm_head.weight"] = "lm_head.weight"
    for position, index in enumerate(plan):
        for key in layer_keys:
            names[f"model.layers.{position}.{key}"] = f"layers.{index}.{key}"
    return names


def load_hf(
    path: str | Path, *, dtype: torch.dtype | None = None, retie: bool = True, **overrides: Any
) -> tuple[Transformer, dict[str, Any]]:
    """Import a local Hugging Face Llama directory as (`Transformer`, info); `info["hf_config"]` is its config.json.

    `dtype` converts the weights (default: as stored, by the embedding's dtype); `overrides` change
    config fields that do not touch shapes (`kernels`, `max_seq_len`, ...). Copies recorded by our export
    are tied again (one unique layer per plan index) unless they were changed since, or `retie=False`.
    """
    directory = Path(path)
    if not directory.is_dir():
        raise CheckpointError(f"hf:{path} is not a directory: give a local Hugging Face model directory")
    source = str(directory / CONFIG_FILE)
    data = _read_json(directory / CONFIG_FILE, "config.json")
    remote = _remote_plan(data, source) if data.get("model_type") == REMOTE_MODEL_TYPE else None
    config = config_from_hf(data if remote is None else remote[0], source)
    bad = sorted(set(overrides) - set(IMPORT_OVERRIDES))
    if bad:
        raise ConfigError(
            f"override {bad[0]!r} cannot change an imported model: allowed are {', '.join(IMPORT_OVERRIDES)}"
        )
    config = replace(config, **overrides)
    tied = _tied_plan(data, source) if retie and remote is None else None
    n_unique, plan = tied if tied is not None else (config.n_layers, identity_plan(config.n_layers))
    stored = plan  # which unique layer each stored `model.layers.i` is
    if remote is not None:  # each unique layer stored once, the plan in config.json
        n_unique, plan, stored = remote[1], remote[2], identity_plan(remote[1])
    config = replace(config, n_layers=n_unique)
    with torch.device("meta"):
        model = Transformer(config, plan)
    targets = model.state_dict()
    layer_keys = list(model.layers[0].state_dict())
    names = _hf_names(config, stored, layer_keys)
    files = _weight_files(directory)
    where: dict[str, _SafetensorsFile] = {}
    unexpected = []
    for file in files:
        for name in file.entries:
            if name.endswith(_IGNORED_SUFFIXES) or (config.tie_embeddings and name == "lm_head.weight"):
                continue
            if name not in names:
                unexpected.append(name)
            where[name] = file
    missing = [name for name in names if name not in where]
    if missing or unexpected:
        raise CheckpointError(
            f"hf:{directory} does not match its config.json ({len(stored)} layers, "
            f"tie_word_embeddings={config.tie_embeddings}): missing tensors {missing[:3]}, "
            f"unexpected tensors {unexpected[:3]}"
        )
    for name, ours in names.items():
        shape, expected = where[name].shape(name), tuple(targets[ours].shape)
        if shape != expected:
            raise CheckpointError(
                f"hf:{directory}: tensor {name} has shape {list(shape)}, config.json implies {list(expected)}"
            )
    if dtype is None:
        dtype = where["model.embed_tokens.weight"].stored_dtype("model.embed_tokens.weight")
    state: dict[str, torch.Tensor] = {}
    for file in files:  # shard by shard
        for name in [n for n in file.entries if n in names and where[n] is file]:
            ours, tensor = names[name], file.read(name, dtype)
            if ours not in state:
                state[ours] = tensor
            elif not torch.equal(state[ours], tensor):  # an exported copy was changed since: keep it untied
                warnings.warn(
                    f"hf:{directory}: {name} differs from the other copies of layer {ours.split('.')[1]}; "
                    "importing every layer as a unique layer",
                    stacklevel=2,
                )
                return load_hf(path, dtype=dtype, retie=False, **overrides)
    model.load_state_dict(state, assign=True, strict=True)
    model.rotary = RotaryEmbedding(config.head_dim, config.rope_theta)  # its table was built on the meta device
    leftover = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if leftover:
        raise RuntimeError(f"import left tensors {leftover[:3]} on the meta device")
    info = {
        "hf_config": data,
        "retied": tied is not None or remote is not None,
        "dtype": DTYPE_NAMES.get(dtype, str(dtype)),
    }
    return model.eval(), info


def from_hf(path: str | Path, *, dtype: torch.dtype | None = None, **overrides: Any) -> Transformer:
    """The `Transformer` of a local Hugging Face Llama directory (`load_hf` without its info)."""
    return load_hf(path, dtype=dtype, **overrides)[0]
