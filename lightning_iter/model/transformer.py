"""The decoder that runs a layer plan over a list of unique layers (DESIGN.md §1), through one walker.

`Transformer.walk` is the only loop over the plan that runs layers: forward, cached forward, analysis traces and
adaptive depth all go through it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn

from ..errors import PlanError, check_int
from .cache import KVCache
from .config import ModelConfig
from .layers import DecoderLayer, Mask, RMSNorm, RotaryEmbedding, keep_contribution
from .loss import mean_token_cross_entropy
from .plan import Plan, identity_plan, validate_plan


class DepthStep(NamedTuple):
    """What `Transformer.walk` computed at one effective depth i (notation of seed 004 §4)."""

    depth: int  # effective depth i (position in the plan)
    layer: int  # the unique layer plan[i] that ran
    h: torch.Tensor  # h_i, the residual entering depth i
    attn: torch.Tensor | None  # a_i (only with parts=True)
    mlp: torch.Tensor | None  # m_i (only with parts=True)
    out: torch.Tensor  # h_{i+1} = (h_i + a_i) + m_i, the residual leaving depth i


def _call(layer: nn.Module, *args: Any, **kwargs: Any) -> Any:
    return layer(*args, **kwargs)


def checkpointed(layer: nn.Module, *args: Any, **kwargs: Any) -> Any:
    """Run `layer` under non-reentrant activation checkpointing: only its inputs are kept, the rest is recomputed in
    backward. Called once per plan position, so a looped layer is recomputed once per pass; reentrant checkpointing
    would mark a tied weight's gradient ready twice under DDP (DESIGN.md §6), hence `use_reentrant=False`."""
    return torch.utils.checkpoint.checkpoint(layer, *args, use_reentrant=False, **kwargs)


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
    def using_plan(self, plan: Iterable[int]) -> Iterator[Transformer]:
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

    def rope_tables(
        self, seq_len: int, device: torch.device, dtype: torch.dtype, start: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """RoPE cos/sin tables [seq_len, head_dim] of absolute positions start .. start + seq_len - 1."""
        positions = torch.arange(start, start + seq_len, device=device)
        return self.rotary(positions, dtype)

    def unembed(self, hidden: torch.Tensor) -> torch.Tensor:
        """Final norm + output projection (tied to the input embedding unless configured otherwise)."""
        hidden = self.norm(hidden)
        weight = self.embed_tokens.weight if self.lm_head is None else self.lm_head.weight
        return F.linear(hidden, weight)

    def walk(
        self,
        hidden: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        *,
        plan: Plan | None = None,
        start: int = 0,
        stop: int | None = None,
        cache: KVCache | None = None,
        parts: bool = False,
        keep: Mapping[int, Mask] | None = None,
        keep_attn: Mapping[int, Mask] | None = None,
    ) -> Iterator[DepthStep]:
        """THE way to run a plan (DESIGN.md §2): from residual `hidden` entering depth `start`, run depths
        start .. stop - 1 of `plan` (default: the model's) and yield one `DepthStep` per depth.

        Every forward, cached forward, analysis and adaptive exit walks through here, so each measures the
        function that was trained (fused kernels, compiled layers). A consumer stops early by leaving the loop.
        `cache`: KV slots by effective depth (positions follow `cache.position`; the caller advances it).
        `parts`: also yield a_i and m_i. `keep` / `keep_attn`: per-depth masks [T] (1 keeps, 0 erases) of the
        layer's whole contribution / of its attention contribution (seed 004 App. B interventions).
        """
        plan = self._plan if plan is None else validate_plan(plan, len(self.layers))
        if stop is None:
            stop = len(plan)
        if start != 0 or stop != len(plan):
            check_int("walk start", start, 0, len(plan), error=PlanError)
            check_int("walk stop", stop, start, len(plan), error=PlanError)
        for name, masks in (("keep", keep), ("keep_attn", keep_attn)):
            outside = sorted(d for d, mask in (masks or {}).items() if mask is not None and not start <= d < stop)
            if outside:
                raise PlanError(f"walk {name} masks depths {outside}, outside the depths it runs ({start}..{stop - 1})")
        if cache is not None:
            cache.check_plan(plan)
        layers = self.layers
        run = checkpointed if self.checkpoints_activations(cache) else _call
        for depth in range(start, stop):
            index = plan[depth]
            slot = None if cache is None else cache.slot(depth)
            mask = None if keep_attn is None else keep_attn.get(depth)
            scale = self.norm_scale(depth)
            # the layer module itself is called, so per-layer torch.compile (compile_layers) stays in use
            if parts:
                a, m, out = run(
                    layers[index], hidden, cos, sin, kv_cache=slot, keep_attn=mask, parts=True, norm_scale=scale
                )
            else:
                a = m = None
                out = run(layers[index], hidden, cos, sin, kv_cache=slot, keep_attn=mask, norm_scale=scale)
            if keep is not None:
                out = keep_contribution(hidden, out, keep.get(depth))
            yield DepthStep(depth, index, hidden, a, m, out)
            hidden = out

    def checkpoints_activations(self, cache: KVCache | None = None) -> bool:
        """Whether `walk` recomputes each depth in backward: `activation_checkpointing` is on, the model is training
        with grad enabled and no KV cache is being filled (evaluation and generation keep nothing to recompute)."""
        return self.config.activation_checkpointing and self.training and torch.is_grad_enabled() and cache is None

    def norm_scale(self, depth: int) -> float:
        """Factor on the pre-norm outputs at effective depth `depth` (0-based): 1/sqrt(depth + 1) under LN-Scaling
        (seed 004 §3.2, App. E, h'_l = LayerNorm(h_l)/sqrt(l)), else 1. l is the 1-based plan position, so a grown
        layer takes the scale of where it sits and a looped layer a different scale on every pass."""
        return 1.0 / math.sqrt(depth + 1) if self.config.ln_scaling else 1.0

    def hidden_states(self, tokens: torch.Tensor) -> torch.Tensor:
        """Residual stream after the last layer of the plan (before the final norm)."""
        if tokens.dim() != 2:
            raise ValueError(f"tokens must be [batch, seq]; got shape {tuple(tokens.shape)}")
        hidden = self.embed(tokens)
        cos, sin = self.rope_tables(tokens.shape[1], tokens.device, hidden.dtype)
        for step in self.walk(hidden, cos, sin):
            hidden = step.out
        return hidden

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits [batch, seq, vocab] for token ids [batch, seq]."""
        return self.unembed(self.hidden_states(tokens))

    def forward_cached(self, tokens: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Logits of `tokens` [batch, new] that follow the `cache.position` tokens already in `cache`.

        The cache is indexed by effective depth (`model.cache`); it must have been built for this plan.
        """
        return self.unembed(self.hidden_states_cached(tokens, cache))

    def hidden_states_cached(self, tokens: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Residual stream after the last layer (before the final norm) of `tokens` following `cache`'s positions;
        advances the cache. Scoring projects only the positions it scores (`eval.scoring`)."""
        hidden = self.embed(tokens)
        cos, sin = self.rope_tables(tokens.shape[1], tokens.device, hidden.dtype, start=cache.position)
        for step in self.walk(hidden, cos, sin, cache=cache):
            hidden = step.out
        cache.advance(tokens.shape[1])
        return hidden

    def loss(self, tokens: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
        """Mean next-token cross-entropy, computed in fp32."""
        return mean_token_cross_entropy(self(tokens), targets, ignore_index)

    def extra_repr(self) -> str:
        return f"n_unique={self.n_unique}, plan={self._plan}"
