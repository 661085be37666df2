"""The model's bridge to `lightning_iter.kernels`: maps the config's `kernels: auto|triton|torch` to a backend.

`auto` means Triton on CUDA tensors and PyTorch elsewhere: the Triton interpreter is a correctness
tool, too slow to train with, so the model only runs it when asked for `triton` explicitly.
"""

from __future__ import annotations

import torch

from .. import kernels as _kernels


def _backend(choice: str, x: torch.Tensor) -> str:
    if choice == "auto":
        return "triton" if x.is_cuda else "torch"
    return choice


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float, choice: str) -> torch.Tensor:
    return _kernels.rms_norm(x, weight, eps, backend=_backend(choice, x))


def fused_add_rms_norm(
    x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float, choice: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (rms_norm(x + residual), x + residual)."""
    return _kernels.fused_add_rms_norm(x, residual, weight, eps, backend=_backend(choice, x))


def swiglu(gate: torch.Tensor, up: torch.Tensor, choice: str) -> torch.Tensor:
    return _kernels.swiglu(gate, up, backend=_backend(choice, gate))
