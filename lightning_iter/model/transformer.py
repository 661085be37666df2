"""The decoder whose forward walks a layer plan over a list of unique layers (DESIGN.md §1)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .cache import KVCache
from .config import ModelConfig
from .layers import DecoderLayer, RMSNorm, RotaryEmbedding
from .plan import Plan, identity_plan, validate_plan


class Transformer(nn.Module):
    """LLaMA-style decoder: `layers` holds unique layers, `plan` says which one runs at each depth.

    Looping, block repetition and layer interventions are plans over the same weights; growth is the
    one operation that adds unique layers (see `replace_layers`).
    """

    def __init__(self, config: ModelConfig, plan: Iterable[int] | None = None) -> None:
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.d_model)
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.n_layers))
        self.norm = RMSNorm(config.d_model, config.norm_eps, config.kernels)
        self.lm_head = None if config.tie_embeddings else nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.rotary = RotaryEmbedding(config.head_dim, config.rope_theta)
        self._plan: Plan = identity_plan(config.n_layers)
        self._compile_options: dict[str, Any] | None = None
        self.apply(self._init_weights)
        if plan is not None:
            self.plan = plan

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=self.config.init_std)

    @classmethod
    def from_hf(cls, path: str, *, dtype: torch.dtype | None = None, **overrides: Any) -> "Transformer":
        """Import a local Hugging Face Llama-family directory (see `model.hf.load_hf`; ties exported loops again)."""
        from .hf import load_hf

        return load_hf(path, dtype=dtype, **overrides)[0]

    # ---- the plan -------------------------------------------------------------------------
    @property
    def plan(self) -> Plan:
        return self._plan

    @plan.setter
    def plan(self, plan: Iterable[int]) -> None:
        self._plan = validate_plan(plan, len(self.layers))

    @property
    def n_unique(self) -> int:
        """Number of unique layers (weights); the effective depth is `len(model.plan)`."""
        return len(self.layers)

    @property
    def depth(self) -> int:
        """Effective depth: the number of layer applications per forward."""
        return len(self._plan)

    @contextmanager
    def using_plan(self, plan: Iterable[int]) -> Iterator["Transformer"]:
        """Run another plan over the same weights inside the block, then restore the current one."""
        previous = self._plan
        self.plan = plan
        try:
            yield self
        finally:
            self._plan = previous

    def replace_layers(self, layers: Sequence[DecoderLayer], plan: Iterable[int]) -> None:
        """Swap in a new list of unique layers together with its plan (validated before anything changes)."""
        new_plan = validate_plan(plan, len(layers))
        self.layers = nn.ModuleList(layers)
        self._plan = new_plan
        self._compile_missing()

    def compile_layers(self, **options: Any) -> None:
        """`torch.compile` each unique layer (as torchtitan compiles blocks), now and after every growth.

        Compiling per layer keeps graphs independent of the plan, so looping, repetition and growth never
        run a graph traced for another plan; deep-copied (grown) layers are compiled when they are added.
        """
        self._compile_options = dict(options)
        self._compile_missing()

    def _compile_missing(self) -> None:
        if self._compile_options is None:
            return
        for layer in self.layers:
            if getattr(layer, "_compiled_call_impl", None) is None:
                layer.compile(**self._compile_options)

    def resize(self, n_unique: int, plan: Iterable[int]) -> None:
        """Rebuild the layer list at `n_unique` fresh layers (to be overwritten by a state dict) and set `plan`."""
        validate_plan(plan, n_unique)
        reference = next(self.parameters())
        kept = list(self.layers)[:n_unique]
        extra = [DecoderLayer(self.config) for _ in range(n_unique - len(kept))]
        for layer in extra:
            layer.apply(self._init_weights)
            layer.to(device=reference.device, dtype=reference.dtype)
        self.replace_layers(kept + extra, plan)

    # ---- parameters and FLOPs bookkeeping --------------------------------------------------
    def num_parameters(self, *, unique: bool = True, include_embeddings: bool = True) -> int:
        """Parameter count; `unique=False` counts every layer application of the plan (tied weights re-counted)."""
        per_layer = [sum(p.numel() for p in layer.parameters()) for layer in self.layers]
        layer_total = sum(per_layer) if unique else sum(per_layer[i] for i in self._plan)
        rest = sum(p.numel() for p in self.norm.parameters())
        if include_embeddings:
            rest += self.embed_tokens.weight.numel()
            if self.lm_head is not None:
                rest += self.lm_head.weight.numel()
        return layer_total + rest

    # ---- forward ------------------------------------------------------------------------------
    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.embed_tokens(tokens)

    def rope_tables(self, seq_len: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        positions = torch.arange(seq_len, device=device)
        return self.rotary(positions, dtype)

    def unembed(self, hidden: torch.Tensor) -> torch.Tensor:
        """Final norm + output projection (tied to the input embedding unless configured otherwise)."""
        hidden = self.norm(hidden)
        weight = self.embed_tokens.weight if self.lm_head is None else self.lm_head.weight
        return F.linear(hidden, weight)

    def hidden_states(self, tokens: torch.Tensor) -> torch.Tensor:
        """Residual stream after the last layer of the plan (before the final norm)."""
        if tokens.dim() != 2:
            raise ValueError(f"tokens must be [batch, seq]; got shape {tuple(tokens.shape)}")
        hidden = self.embed(tokens)
        cos, sin = self.rope_tables(tokens.shape[1], tokens.device, hidden.dtype)
        for index in self._plan:
            hidden = self.layers[index](hidden, cos, sin)
        return hidden

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits [batch, seq, vocab] for token ids [batch, seq]."""
        return self.unembed(self.hidden_states(tokens))

    def forward_cached(self, tokens: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Logits of `tokens` [batch, new] that follow the `cache.position` tokens already in `cache`.

        The cache is indexed by effective depth (`model.cache`); it must have been built for this plan.
        """
        cache.check_plan(self._plan)
        hidden = self.embed(tokens)
        positions = torch.arange(cache.position, cache.position + tokens.shape[1], device=tokens.device)
        cos, sin = self.rotary(positions, hidden.dtype)
        for depth, index in enumerate(self._plan):
            hidden = self.layers[index](hidden, cos, sin, kv_cache=cache.slot(depth))
        cache.advance(tokens.shape[1])
        return self.unembed(hidden)

    def loss(self, tokens: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
        """Mean next-token cross-entropy, computed in fp32."""
        logits = self(tokens)
        return F.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=ignore_index
        )

    def extra_repr(self) -> str:
        return f"n_unique={self.n_unique}, plan={self._plan}"

