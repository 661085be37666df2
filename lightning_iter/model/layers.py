"""The LLaMA-style decoder layer: pre-norm RMSNorm, grouped-query attention with RoPE, SwiGLU MLP.

Parameter names follow the Hugging Face Llama layout (q_proj, gate_proj, input_layernorm, ...) so
checkpoints map one to one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .ops import fused_add_rms_norm, rms_norm, swiglu

if TYPE_CHECKING:
    from .cache import KVSlot


class RMSNorm(nn.Module):
    """RMSNorm with a learned gain; statistics in fp32, output in the input dtype (LLaMA semantics)."""

    def __init__(self, dim: int, eps: float, kernels: str = "auto") -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps
        self.kernels = kernels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rms_norm(x, self.weight, self.eps, self.kernels)


class RotaryEmbedding(nn.Module):
    """RoPE tables (rotate-half convention, as in Hugging Face Llama), cached up to the longest length seen."""

    def __init__(self, head_dim: int, theta: float) -> None:
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
        self.register_buffer("inv_freq", inv_freq.float(), persistent=False)

    def _apply(self, fn, recurse=True):  # noqa: ANN001, ANN202 - nn.Module signature
        """Keep the frequencies fp32 through `.to(bfloat16)`: tables are computed in fp32, then cast (as HF does)."""
        super()._apply(fn, recurse)
        self.inv_freq = self.inv_freq.float()
        return self

    def forward(self, positions: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        freqs = positions.to(torch.float32)[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(dtype), emb.sin().to(dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate `x` [B, heads, T, head_dim] by the position tables cos/sin [T, head_dim]."""
    return x * cos + _rotate_half(x) * sin


class Attention(nn.Module):
    """Causal grouped-query self-attention through `scaled_dot_product_attention`."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.n_kv_heads = config.n_kv_heads
        self.head_dim = config.head_dim
        kv_dim = config.n_kv_heads * config.head_dim
        self.q_proj = nn.Linear(config.d_model, config.d_model, bias=False)
        self.k_proj = nn.Linear(config.d_model, kv_dim, bias=False)
        self.v_proj = nn.Linear(config.d_model, kv_dim, bias=False)
        self.o_proj = nn.Linear(config.d_model, config.d_model, bias=False)

    def forward(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, kv_cache: KVSlot | None = None
    ) -> torch.Tensor:
        """`kv_cache` (one slot of `model.cache.KVCache`): keys/values of earlier positions, extended in place.

        With a cache, cos/sin are the tables of the new positions `kv_cache.offset ..` only.
        """
        batch, seq, _ = x.shape
        q = self.q_proj(x).view(batch, seq, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(batch, seq, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(batch, seq, self.n_kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        gqa = self.n_kv_heads != self.n_heads
        offset = 0
        if kv_cache is not None:
            offset = kv_cache.offset
            k, v = kv_cache.write(k, v)  # keys/values of positions 0 .. offset + seq - 1
        padded = None if kv_cache is None else kv_cache.attention_mask(seq, k.shape[2], x.device)
        if padded is not None:  # a batch of left-padded prompts (generation.generate)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=padded, enable_gqa=gqa)
        elif offset == 0:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
        else:
            mask = None
            if seq > 1:  # query i (absolute position offset + i) sees keys 0 .. offset + i
                rows = torch.arange(seq, device=x.device)[:, None] + offset
                mask = torch.arange(k.shape[2], device=x.device)[None, :] <= rows
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=gqa)
        return self.o_proj(out.transpose(1, 2).reshape(batch, seq, -1))


class MLP(nn.Module):
    """SwiGLU feed-forward: down(silu(gate(x)) * up(x))."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(config.d_model, config.ffn_dim, bias=False)
        self.up_proj = nn.Linear(config.d_model, config.ffn_dim, bias=False)
        self.down_proj = nn.Linear(config.ffn_dim, config.d_model, bias=False)
        self.kernels = config.kernels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(swiglu(self.gate_proj(x), self.up_proj(x), self.kernels))


Mask = torch.Tensor | None  # [T] (or broadcastable [B, T]) float: 1 keeps a contribution, 0 erases it


def _per_position(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return mask.to(like.dtype).reshape(*mask.shape, 1)


def keep_contribution(h: torch.Tensor, out: torch.Tensor, keep: Mask) -> torch.Tensor:
    """`out` where `keep` is 1, `h` (the layer's contribution out - h erased) where it is 0.

    `lerp` returns its end points exactly at weights 0 and 1, so a mask of ones changes nothing bit for bit.
    """
    return out if keep is None else torch.lerp(h, out, _per_position(keep, out))


def _scaled(gain: torch.Tensor, scale: float) -> torch.Tensor:
    """The norm gain times `scale` (the gain itself at 1.0, so the default path is untouched)."""
    return gain if scale == 1.0 else gain * scale


class DecoderLayer(nn.Module):
    """One pre-norm transformer layer: h = x + attn(norm(x)); out = h + mlp(norm(h))."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(config.d_model, config.norm_eps, config.kernels)
        self.self_attn = Attention(config)
        self.post_attention_layernorm = RMSNorm(config.d_model, config.norm_eps, config.kernels)
        self.mlp = MLP(config)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        kv_cache: KVSlot | None = None,
        keep_attn: Mask = None,
        parts: bool = False,
        norm_scale: float = 1.0,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The layer output; with `parts=True` the triple (a, m, out) of attention output, MLP output and out.

        `keep_attn` erases the attention contribution a at some positions before the MLP reads it (a sublayer
        skip, seed 004 App. B). out is always (x + a) + m through the fused add+RMSNorm, as trained.
        `norm_scale` multiplies both pre-norm outputs (LN-Scaling, seed 004 App. E: 1/sqrt(l) at plan position l);
        it is folded into the norm gains, so the fused kernels run unchanged and 1.0 is the plain layer bit for bit.
        """
        attn_norm, norm = self.input_layernorm, self.post_attention_layernorm
        attn_gain, mlp_gain = _scaled(attn_norm.weight, norm_scale), _scaled(norm.weight, norm_scale)
        a = self.self_attn(rms_norm(x, attn_gain, attn_norm.eps, attn_norm.kernels), cos, sin, kv_cache=kv_cache)
        if keep_attn is not None:
            a = a * _per_position(keep_attn, a)
        a = a.to(x.dtype)  # under autocast (bf16-mixed) a is bf16 and the residual stream stays fp32; else a no-op
        normed, hidden = fused_add_rms_norm(a, x, mlp_gain, norm.eps, norm.kernels)
        m = self.mlp(normed)
        out = hidden + m
        return (a, m, out) if parts else out
