"""A plan-walking forward for analysis: residuals and sublayer outputs indexed by effective depth.

Notation of seed 004 §4 (after Csordás et al. 2025): `h_i` is the residual stream entering effective
depth i (h_0 = embeddings, h_L = input of the final norm), `a_i` the attention output and `m_i` the
MLP output of the layer at depth i, so `h_{i+1} = h_i + a_i + m_i`. Interventions erase a (sub)layer's
contribution at chosen positions; they never copy or change weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..model import Transformer
from ..model.layers import DecoderLayer

Mask = torch.Tensor | None  # [T] (or broadcastable [B, T]) float: 1 keeps the contribution, 0 erases it


@dataclass
class Trace:
    """Everything one forward over `plan` computed, per effective depth."""

    plan: tuple[int, ...]
    residuals: list[torch.Tensor]  # h_0 .. h_L, each [B, T, d]
    attn: list[torch.Tensor]  # a_0 .. a_{L-1}
    mlp: list[torch.Tensor]  # m_0 .. m_{L-1}
    cos: torch.Tensor
    sin: torch.Tensor

    @property
    def depth(self) -> int:
        return len(self.plan)

    def update(self, i: int) -> torch.Tensor:
        """The residual update (contribution) of depth i: h_{i+1} - h_i = a_i + m_i."""
        return self.residuals[i + 1] - self.residuals[i]


def _keep(x: torch.Tensor, mask: Mask) -> torch.Tensor:
    if mask is None:
        return x
    return x * mask.to(x.dtype).reshape(*mask.shape, 1)


def sublayers(
    layer: DecoderLayer, h: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, keep_attn: Mask = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, m) of `layer` on residual `h`: a = attn(norm(h)), m = mlp(norm(h + a)); equals `layer(h)` = h + a + m.

    `keep_attn` erases the attention contribution at some positions before the MLP reads it (a sublayer skip).
    """
    a = _keep(layer.self_attn(layer.input_layernorm(h), cos, sin), keep_attn)
    m = layer.mlp(layer.post_attention_layernorm(h + a))
    return a, m


def run_layer(
    layer: DecoderLayer, h: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
    keep: Mask = None, keep_attn: Mask = None,
) -> torch.Tensor:
    """`layer` on `h`, with its whole contribution (`keep`) or its attention (`keep_attn`) erased where the mask is 0."""
    a, m = sublayers(layer, h, cos, sin, keep_attn)
    return h + _keep(a + m, keep)


@torch.no_grad()
def trace(model: Transformer, tokens: torch.Tensor, plan: tuple[int, ...] | None = None) -> Trace:
    """Run `plan` (default: the model's) over `tokens` [B, T], keeping h_i, a_i and m_i at every depth."""
    plan = tuple(model.plan if plan is None else plan)
    h = model.embed(tokens)
    cos, sin = model.rope_tables(tokens.shape[1], tokens.device, h.dtype)
    residuals, attn, mlp = [h], [], []
    for index in plan:
        a, m = sublayers(model.layers[index], h, cos, sin)
        h = h + (a + m)  # the association of `run_layer`, so an intervention that changes nothing is exact
        residuals.append(h)
        attn.append(a)
        mlp.append(m)
    return Trace(plan, residuals, attn, mlp, cos, sin)


@torch.no_grad()
def run_from(
    model: Transformer, h: torch.Tensor, start: int, tr: Trace,
    keep: Mask = None, keep_attn: Mask = None, updates: bool = False,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Continue the plan of `tr` from depth `start` on residual `h`, intervening (masks) at depth `start` only.

    Returns the final residual h_L and, with `updates=True`, the residual updates of depths start+1 .. L-1.
    """
    plan = tr.plan
    h = run_layer(model.layers[plan[start]], h, tr.cos, tr.sin, keep, keep_attn)
    later: list[torch.Tensor] = []
    for i in range(start + 1, len(plan)):
        new = run_layer(model.layers[plan[i]], h, tr.cos, tr.sin)
        if updates:
            later.append(new - h)
        h = new
    return h, later


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device
