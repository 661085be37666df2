"""Fused residual add + RMSNorm: one pass computes h = x + residual and rms_norm(h) (custom op, autograd, API).

The kernels are the RMSNorm ones with HAS_RESIDUAL / HAS_DRES switched on: the forward also stores h
(the new residual, in the input dtype) and the backward adds the residual stream's gradient into dh,
which is then the gradient of both x and residual.
"""

from __future__ import annotations

import torch

from .dispatch import check_norm_args, check_same, resolve_backend
from .reference import fused_add_rms_norm_ref
from .rms_norm import rms_norm_backward, rms_norm_forward


@torch.library.custom_op("lightning_iter::fused_add_rms_norm", mutates_args=())
def _fused_add_rms_norm_op(
    x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    y, h, rstd = rms_norm_forward(x, weight, eps, residual=residual)
    return y, h, rstd


@_fused_add_rms_norm_op.register_fake
def _fused_add_rms_norm_fake(
    x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    y = x.new_empty(x.shape, dtype=torch.promote_types(x.dtype, weight.dtype))
    return y, x.new_empty(x.shape), x.new_empty(x.shape[:-1], dtype=torch.float32)


@torch.library.custom_op("lightning_iter::fused_add_rms_norm_backward", mutates_args=())
def _fused_add_rms_norm_backward_op(
    dy: torch.Tensor, dres: torch.Tensor, h: torch.Tensor, weight: torch.Tensor, rstd: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    return rms_norm_backward(dy, h, weight, rstd, dres=dres)


@_fused_add_rms_norm_backward_op.register_fake
def _fused_add_rms_norm_backward_fake(
    dy: torch.Tensor, dres: torch.Tensor, h: torch.Tensor, weight: torch.Tensor, rstd: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    return h.new_empty(h.shape), weight.new_empty(weight.shape)


class FusedAddRMSNormFunction(torch.autograd.Function):
    """Autograd for the Triton add+RMSNorm; its setup_context/backward are also registered on the custom op."""

    @staticmethod
    def forward(
        x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return torch.ops.lightning_iter.fused_add_rms_norm(x, residual, weight, eps)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        _, _, weight, _ = inputs
        _, h, rstd = output
        ctx.mark_non_differentiable(rstd)
        ctx.save_for_backward(h, weight, rstd)

    @staticmethod
    def backward(ctx, dy: torch.Tensor | None, dres: torch.Tensor | None, _drstd: torch.Tensor | None):
        h, weight, rstd = ctx.saved_tensors
        if dy is None:
            dy = torch.zeros_like(h, dtype=torch.promote_types(h.dtype, weight.dtype))
        if dres is None:
            dres = torch.zeros_like(h)
        dh, dw = torch.ops.lightning_iter.fused_add_rms_norm_backward(dy, dres, h, weight, rstd)
        return dh, dh, dw, None


_fused_add_rms_norm_op.register_autograd(
    FusedAddRMSNormFunction.backward, setup_context=FusedAddRMSNormFunction.setup_context
)


def fused_add_rms_norm(
    x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5, backend: str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(rms_norm(x + residual), x + residual) in one pass: the pre-norm block's residual update and norm."""
    check_norm_args(x, weight)
    check_same("residual", residual, "x", x)
    if resolve_backend(backend, x, residual, weight) == "torch":
        return fused_add_rms_norm_ref(x, residual, weight, eps)
    y, h, _ = torch.ops.lightning_iter.fused_add_rms_norm(x, residual, weight, eps)
    return y, h
