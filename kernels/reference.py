"""Plain-PyTorch references: the semantics the Triton kernels implement, and the CPU fallback.

Casting follows Hugging Face's LlamaRMSNorm exactly:

    h = x.to(float32); h = h * rsqrt(mean(h**2, -1) + eps); y = weight * h.to(x.dtype)

so the statistics are in fp32 (fp64 stays fp64), the normalised value is rounded back to x's dtype,
and the product with the weight has dtype promote_types(x.dtype, weight.dtype): x's dtype when the
weight has the same dtype (the usual case), fp32 for bf16 activations with an fp32 weight.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def rms_norm_ref(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """RMSNorm over the last dimension with LLaMA/HF casting (the reference for the Triton kernel)."""
    h = x.to(torch.promote_types(x.dtype, torch.float32))
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return weight * h.to(x.dtype)


def fused_add_rms_norm_ref(
    x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5
) -> tuple[torch.Tensor, torch.Tensor]:
    """(rms_norm(x + residual), x + residual): the pre-norm residual update, sum kept in the input dtype."""
    new_residual = x + residual
    return rms_norm_ref(new_residual, weight, eps), new_residual


def swiglu_ref(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """silu(gate) * up, the LLaMA MLP activation."""
    return F.silu(gate) * up
