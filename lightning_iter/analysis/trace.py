"""Traces for analysis: residuals and sublayer outputs per effective depth, recorded from `Transformer.walk`.

Notation of seed 004 §4 (after Csordás et al. 2025): `h_i` is the residual stream entering effective
depth i (h_0 = embeddings, h_L = input of the final norm), `a_i` the attention output and `m_i` the
MLP output of the layer at depth i, so `h_{i+1} = (h_i + a_i) + m_i` (as the layer computes it).
Interventions erase a (sub)layer's contribution at chosen positions; they never copy or change weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import PlanError, check_int
from ..model import Transformer
from ..model.layers import DecoderLayer, Mask, keep_contribution


@dataclass
class Trace:
    """Everything one forward over `plan` computed, per effective depth."""

    plan: tuple[int, ...]
    residuals: list[torch.Tensor]  # h_0 .. h_L, each [B, T, d]
    attn: list[torch.Tensor]  # a_0 .. a_{L-1} (empty when traced with parts=False)
    mlp: list[torch.Tensor]  # m_0 .. m_{L-1} (empty when traced with parts=False)
    cos: torch.Tensor
    sin: torch.Tensor

    @property
    def depth(self) -> int:
        return len(self.plan)

    def update(self, i: int) -> torch.Tensor:
        """The residual update (contribution) of depth i: h_{i+1} - h_i = a_i + m_i."""
        return self.residuals[i + 1] - self.residuals[i]


def sublayers(
    layer: DecoderLayer, h: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, keep_attn: Mask = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, m) of `layer` on residual `h`: a = attn(norm(h)), m = mlp(norm(h + a)); `layer(h)` = (h + a) + m.

    `keep_attn` erases the attention contribution at some positions before the MLP reads it (a sublayer skip).
    """
    a, m, _ = layer(h, cos, sin, keep_attn=keep_attn, parts=True)
    return a, m


def run_layer(
    layer: DecoderLayer,
    h: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    keep: Mask = None,
    keep_attn: Mask = None,
) -> torch.Tensor:
    """`layer` on `h`, its whole contribution (`keep`) or its attention (`keep_attn`) erased where the mask is 0."""
    return keep_contribution(h, layer(h, cos, sin, keep_attn=keep_attn), keep)


@torch.no_grad()
def trace(model: Transformer, tokens: torch.Tensor, plan: tuple[int, ...] | None = None, parts: bool = True) -> Trace:
    """Run `plan` (default: the model's) over `tokens` [B, T] through `model.walk`, keeping h_i (and, with
    `parts`, a_i and m_i) at every depth; h_L is bit for bit the model's `hidden_states` (uncompiled layers)."""
    plan = tuple(model.plan if plan is None else plan)
    h = model.embed(tokens)
    cos, sin = model.rope_tables(tokens.shape[1], tokens.device, h.dtype)
    residuals, attn, mlp = [h], [], []
    for step in model.walk(h, cos, sin, plan=plan, parts=parts):
        residuals.append(step.out)
        if parts:
            attn.append(step.attn)
            mlp.append(step.mlp)
    return Trace(plan, residuals, attn, mlp, cos, sin)


@torch.no_grad()
def run_from(
    model: Transformer,
    h: torch.Tensor,
    start: int,
    tr: Trace,
    keep: Mask = None,
    keep_attn: Mask = None,
    updates: bool = False,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Continue the plan of `tr` from depth `start` on residual `h`, intervening (masks) at depth `start` only.

    Returns the final residual h_L and, with `updates=True`, the residual updates of depths start+1 .. L-1.
    A mask of ones (or None) reproduces `tr` exactly (uncompiled layers: a compiled layer may fuse differently).
    """
    check_int("run_from start", start, 0, len(tr.plan) - 1, error=PlanError)
    later: list[torch.Tensor] = []
    steps = model.walk(h, tr.cos, tr.sin, plan=tr.plan, start=start, keep={start: keep}, keep_attn={start: keep_attn})
    for step in steps:
        if updates and step.depth > start:
            later.append(step.out - step.h)
        h = step.out
    return h, later


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device
