"""Model configuration and the named presets of the seeds' SmolLM-v1 family (seed 004 App. A, Table 2)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from ..errors import ConfigError, check_choice, check_float, check_int

KERNEL_CHOICES = ("auto", "triton", "torch")


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a LLaMA-style decoder. `n_layers` is the number of *unique* layers built at start-up."""

    vocab_size: int = 260
    d_model: int = 128
    n_layers: int = 8
    n_heads: int = 4
    n_kv_heads: int = 2
    ffn_dim: int = 384
    max_seq_len: int = 256
    rope_theta: float = 10_000.0
    norm_eps: float = 1e-5
    tie_embeddings: bool = True
    init_std: float = 0.02
    kernels: str = "auto"
    ln_scaling: bool = False  # LN-Scaling (seed 004 App. E): pre-norm outputs at plan position l times 1/sqrt(l)
    # recompute each plan position's activations in backward instead of keeping them (memory for compute); changes
    # neither the weights' shapes nor the function, so it may change at resume (docs/scaling.md)
    activation_checkpointing: bool = False
    name: str = "custom"

    def __post_init__(self) -> None:
        positive = ("vocab_size", "d_model", "n_layers", "n_heads", "n_kv_heads", "ffn_dim", "max_seq_len")
        for field in positive:
            check_int(f"model.{field}", getattr(self, field), 1)
        if self.d_model % self.n_heads:
            raise ConfigError(
                f"model.n_heads={self.n_heads} does not divide model.d_model={self.d_model}: "
                "the head width d_model/n_heads must be an integer"
            )
        if self.n_heads % self.n_kv_heads:
            raise ConfigError(
                f"model.n_kv_heads={self.n_kv_heads} does not divide model.n_heads={self.n_heads}: "
                "grouped-query attention needs n_heads to be a multiple of n_kv_heads"
            )
        if (self.d_model // self.n_heads) % 2:
            raise ConfigError(
                f"head width {self.d_model // self.n_heads} (model.d_model/model.n_heads) is odd: "
                "RoPE needs an even head width"
            )
        check_choice("model.kernels", self.kernels, KERNEL_CHOICES)
        check_choice("model.ln_scaling", self.ln_scaling, (False, True))
        check_choice("model.activation_checkpointing", self.activation_checkpointing, (False, True))
        for field in ("rope_theta", "norm_eps", "init_std"):
            check_float(f"model.{field}", getattr(self, field), above=0)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @classmethod
    def from_name(cls, name: str, **overrides: Any) -> ModelConfig:
        """Build a preset by name (`tiny`, `smollm-135m`, `smollm-360m`, `smollm-1.7b`), with field overrides."""
        if name not in PRESETS:
            raise ConfigError(f"model preset {name!r} is unknown: choose one of {', '.join(sorted(PRESETS))}")
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - allowed)
        if unknown:
            raise ConfigError(
                f"model override {unknown[0]!r} is not a model field: allowed fields are {', '.join(sorted(allowed))}"
            )
        return replace(PRESETS[name], **overrides)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ConfigError(
                f"model config field {unknown[0]!r} is unknown: allowed fields are {', '.join(sorted(allowed))}"
            )
        return cls(**data)


_COSMO2_VOCAB = 49_152

PRESETS: dict[str, ModelConfig] = {
    # Byte-level vocabulary of the built-in tokenizer; small enough for CPU tests and the quickstart.
    "tiny": ModelConfig(name="tiny"),
    "smollm-135m": ModelConfig(
        name="smollm-135m",
        vocab_size=_COSMO2_VOCAB,
        d_model=576,
        n_layers=30,
        n_heads=9,
        n_kv_heads=3,
        ffn_dim=1536,
        max_seq_len=2048,
    ),
    "smollm-360m": ModelConfig(
        name="smollm-360m",
        vocab_size=_COSMO2_VOCAB,
        d_model=960,
        n_layers=32,
        n_heads=15,
        n_kv_heads=5,
        ffn_dim=2560,
        max_seq_len=2048,
    ),
    "smollm-1.7b": ModelConfig(
        name="smollm-1.7b",
        vocab_size=_COSMO2_VOCAB,
        d_model=2048,
        n_layers=24,
        n_heads=32,
        n_kv_heads=32,
        ffn_dim=8192,
        max_seq_len=2048,
    ),
}
