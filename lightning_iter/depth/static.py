"""Static strategies: the plain baseline and looped models Loop(L×k), Loop(e-L×k-d) (seed 000 App. E)."""

from __future__ import annotations

from typing import Any

from ..model.config import ModelConfig
from ..model.plan import Plan, identity_plan, loop_plan
from .base import StaticStrategy, _positive_int
from .registry import register_strategy


@register_strategy("baseline")
class Baseline(StaticStrategy):
    """A standard model: `model.n_layers` untied layers, each run once."""

    def __init__(self) -> None:
        self.n_layers: int | None = None

    def configure(self, config: ModelConfig) -> None:
        self.n_layers = config.n_layers

    def fixed_layers(self) -> tuple[int, Plan]:
        assert self.n_layers is not None, "call setup(config) first"
        return self.n_layers, identity_plan(self.n_layers)


@register_strategy("loop")
class Loop(StaticStrategy):
    """Weight-tied looped model; its unique-layer count is e + L + d, whatever `model.n_layers` says."""

    def __init__(self, layers: int, repeats: int, encode: int = 0, decode: int = 0) -> None:
        self.layers = _positive_int("layers", layers)
        self.repeats = _positive_int("repeats", repeats)
        self.encode = _positive_int("encode", encode, minimum=0)
        self.decode = _positive_int("decode", decode, minimum=0)
        self.config: ModelConfig | None = None

    def configure(self, config: ModelConfig) -> None:
        self.config = config

    def fixed_layers(self) -> tuple[int, Plan]:
        n = self.encode + self.layers + self.decode
        return n, loop_plan(self.layers, self.repeats, self.encode, self.decode)

    def summary(self) -> str:
        """Label, unique vs effective depth, and (once set up) unique parameters vs inference cost per token."""
        n, plan = self.fixed_layers()
        text = f"loop: {self.label()}, {n} unique layers, effective depth {len(plan)}"
        if self.config is not None:
            from ..model.flops import inference_flops_per_token, layer_matmul_params

            per_layer = layer_matmul_params(self.config)
            head = self.config.d_model * self.config.vocab_size
            text += (
                f"; unique layer parameters {n * per_layer:,} (+{head:,} embedding), applied per token "
                f"{len(plan) * per_layer:,}; inference "
                f"{inference_flops_per_token(self.config, len(plan), self.config.max_seq_len):.4g} "
                f"FLOPs/token at seq_len {self.config.max_seq_len} (= a {len(plan)}-layer standard model)"
            )
        return text

    def params(self) -> dict[str, Any]:
        return {"layers": self.layers, "repeats": self.repeats, "encode": self.encode, "decode": self.decode}

    def label(self) -> str:
        """The seeds' notation, e.g. Loop(4×8) or Loop(2-2×2-2)."""
        core = f"{self.layers}×{self.repeats}"
        if self.encode or self.decode:
            core = f"{self.encode}-{core}-{self.decode}"
        return f"Loop({core})"
