"""Load a trained model for inference: a `lightning_iter fit` checkpoint, file or distributed (DCP) directory, or a
registered source such as `hf:DIR`.

`eval`, `generate`, `analyze` and `export` all start here, so every one of them accepts the same
`--ckpt_path` forms and the same `--repeat` block repetition (DESIGN.md §4).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .checkpoint import CHECKPOINT_KEY, model_weights, read_entry
from .data.tokenizer import Tokenizer, tokenizer_from_spec
from .distributed_checkpoint import directory_problem, load_consolidated
from .errors import CheckpointError, ConfigError, check_choice
from .model import ModelConfig, Transformer
from .model.hf import EXTRA_KEY, load_hf
from .model.plan import apply_repeat

DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


@dataclass
class LoadedModel:
    """A model ready for inference with its tokenizer and what the checkpoint says about its training."""

    model: Transformer
    tokenizer: Tokenizer
    source: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def data_spec(self) -> dict[str, Any] | None:
        """`{"class_path", "init_args"}` of the data module the run trained on, if the checkpoint recorded it."""
        return self.info.get("data")

    def build_datamodule(self, **overrides: Any) -> Any:
        """Instantiate the training run's data module (for its held-out split); `overrides` change init args."""
        spec = self.data_spec
        if not spec:
            raise CheckpointError(f"{self.source} does not record its data module: pass the data explicitly")
        module_name, _, class_name = spec["class_path"].rpartition(".")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as err:
            raise CheckpointError(
                f"{self.source} names data module {spec['class_path']!r}, which cannot be imported: {err}"
            ) from None
        # LightningCLI records jsonargparse bookkeeping keys (`_class_path`, `_instantiator`) among the init args.
        init_args = {k: v for k, v in spec.get("init_args", {}).items() if not k.startswith("_")}
        return cls(**{**init_args, **overrides})


Loader = Callable[[str], LoadedModel]
LOADERS: dict[str, Loader] = {}


def register_loader(prefix: str, loader: Loader) -> None:
    """Let `--ckpt_path PREFIX:REST` load through `loader(REST)` (e.g. `hf:` for Hugging Face directories)."""
    LOADERS[prefix] = loader


def load_lightning_checkpoint(path: str | Path) -> LoadedModel:
    """Rebuild the `Transformer` (unique layers + plan) and tokenizer of a `lightning_iter fit` checkpoint."""
    path = Path(path)
    if path.is_dir():
        checkpoint = _consolidated(path)
    elif not path.is_file():
        raise CheckpointError(
            f"--ckpt_path={path} does not exist: give a checkpoint file written by `lightning_iter fit`"
        )
    else:
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as err:  # noqa: BLE001 - any unreadable file gets the same one-line error
            raise CheckpointError(f"--ckpt_path={path} is not a readable PyTorch checkpoint: {err}") from None
    state = read_entry(checkpoint, f"--ckpt_path={path}")
    config = ModelConfig.from_dict({**state["config"], "n_layers": int(state["n_unique"])})
    model = Transformer(config, state["plan"])
    try:
        missing, unexpected = model.load_state_dict(model_weights(checkpoint), strict=False)
    except RuntimeError as err:  # "size mismatch for ...": the recorded config disagrees with the weights
        detail = next((line.strip() for line in str(err).splitlines() if "size mismatch" in line), str(err))
        raise CheckpointError(
            f"--ckpt_path={path} does not match its recorded model: {detail.rstrip('.')} "
            f"(the model config in its {CHECKPOINT_KEY!r} entry disagrees with its weights)"
        ) from None
    missing = [k for k in missing if not k.startswith("rotary.")]
    if missing or unexpected:
        raise CheckpointError(
            f"--ckpt_path={path} does not match its recorded model: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    info = {k: v for k, v in state.items() if k not in ("config",)}
    info["global_step"] = checkpoint.get("global_step")
    return LoadedModel(model.eval(), tokenizer_from_spec(state.get("tokenizer")), str(path), info)


def _consolidated(path: Path) -> dict[str, Any]:
    """A distributed (DCP) checkpoint directory's weights and entry, gathered in memory on this process."""
    problem = directory_problem(path)
    if problem is not None:
        raise CheckpointError(f"--ckpt_path={path} is {problem}")
    try:
        return load_consolidated(path, optimizer=False)
    except Exception as err:  # noqa: BLE001 - any unreadable shard gets the same one-line error
        raise CheckpointError(f"--ckpt_path={path} is not a readable distributed checkpoint: {err}") from None


def load_hf_directory(path: str) -> LoadedModel:
    """`--ckpt_path hf:DIR`: a Hugging Face Llama directory with its `tokenizer.json` (`model.hf.load_hf`)."""
    model, info = load_hf(path)
    return LoadedModel(model, _hf_tokenizer(Path(path), info["hf_config"], EXTRA_KEY), f"hf:{path}", info)


def _hf_tokenizer(directory: Path, config: dict[str, Any], extra_key: str) -> Tokenizer:
    """The tokenizer our export recorded when it is not a Hugging Face one (the byte tokenizer, whose
    tokenizer.json is for transformers); else the directory's `tokenizer.json`."""
    from .data.hf_tokenizer import HFTokenizer

    spec = (config.get(extra_key) or {}).get("tokenizer")
    if isinstance(spec, dict) and spec.get("kind") not in (None, "hf"):  # e.g. {"kind": "bytes"}
        return tokenizer_from_spec(spec)
    if (directory / "tokenizer.json").is_file():
        try:
            return HFTokenizer.from_file(directory)
        except ConfigError:  # no eos named by a tokenizer_config.json or a known spelling: ask config.json
            eos = config.get("eos_token_id")
            if not isinstance(eos, int):
                raise
            return HFTokenizer.from_file(directory, eos=eos)
    raise CheckpointError(
        f"hf:{directory} has no tokenizer.json: save one beside the weights (in transformers: "
        "AutoTokenizer.from_pretrained(DIR).save_pretrained(DIR) writes it), "
        "or use lightning_iter.model.hf.load_hf for weights only"
    )


register_loader("hf", load_hf_directory)


def check_device(device: str | torch.device, field: str = "--device") -> torch.device:
    """`device` as a torch device if this machine has it; else one ConfigError naming what is available."""
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ConfigError(f"{field}={device!r} is not allowed: {err} (e.g. cpu, cuda, cuda:1, mps)") from None
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not available.get(resolved.type, True):
        present = ", ".join(kind for kind, ok in available.items() if ok)
        raise ConfigError(
            f"{field}={device!r} is not allowed: this machine has no {resolved.type} device ({present} only)"
        )
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise ConfigError(
            f"{field}={device!r} is not allowed: this machine has {torch.cuda.device_count()} CUDA device(s)"
        )
    return resolved


def load_model(
    ckpt_path: str | Path,
    *,
    repeat: str | None = None,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype | None = None,
) -> LoadedModel:
    """Load `ckpt_path` (a fit checkpoint or `PREFIX:...` of a registered loader), apply `--repeat`, move it.

    `repeat` is `START:ENDxEXTRA` over positions of the checkpoint's plan (`model.plan.parse_repeat`).
    """
    text = str(ckpt_path)
    prefix, sep, rest = text.partition(":")
    if sep and prefix in LOADERS:
        loaded = LOADERS[prefix](rest)
    elif sep and len(prefix) > 1 and not Path(text).exists() and "://" not in text:
        known = ", ".join(f"{p}:" for p in sorted(LOADERS)) or "(none registered)"
        raise CheckpointError(f"--ckpt_path={text}: unknown source prefix {prefix!r}; known prefixes are {known}")
    else:
        loaded = load_lightning_checkpoint(text)
    loaded.model.plan = apply_repeat(loaded.model.plan, repeat)
    if isinstance(dtype, str):
        dtype = DTYPES[check_choice("--dtype", dtype, DTYPES)]
    loaded.model.to(device=check_device(device), dtype=dtype)
    return loaded
