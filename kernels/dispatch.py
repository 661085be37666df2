"""Choosing between the Triton kernels and the PyTorch references for a call."""

from __future__ import annotations

from typing import Literal

import torch

from . import _triton_utils as tu

BACKENDS = ("auto", "triton", "torch")


def resolve_backend(backend: str | None, *tensors: torch.Tensor) -> Literal["triton", "torch"]:
    """Resolve None/'auto'/'triton'/'torch' to the implementation that will run on these tensors.

    'auto' uses Triton for CUDA tensors and whenever TRITON_INTERPRET=1 is set (tests on the CPU),
    as long as Triton is installed and the dtype is one the kernels support; PyTorch otherwise.
    """
    if backend is None:
        backend = "auto"
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not supported; allowed values: None, 'auto', 'triton', 'torch'")
    if backend == "torch":
        return "torch"
    if backend == "triton":
        tu.check_runnable(*tensors)
        return "triton"
    if not tu.HAS_TRITON or any(t.dtype not in tu.SUPPORTED_DTYPES for t in tensors):
        return "torch"
    if tu.interpreter_requested() or all(t.is_cuda for t in tensors):
        return "triton"
    return "torch"


def check_norm_args(x: torch.Tensor, weight: torch.Tensor) -> None:
    """Raise a clear ValueError unless weight is [H] for x of shape [..., H]."""
    if x.dim() == 0:
        raise ValueError("x must have at least one dimension [..., hidden], got a 0-d tensor")
    if x.shape[-1] == 0:
        raise ValueError(f"x.shape={tuple(x.shape)} has an empty last (hidden) dimension; it must be >= 1")
    if weight.shape != (x.shape[-1],):
        raise ValueError(f"weight.shape={tuple(weight.shape)} must be ({x.shape[-1]},), the last dimension of x")


def check_same(name: str, a: torch.Tensor, other: str, b: torch.Tensor) -> None:
    """Raise a clear ValueError unless a and b agree in shape and dtype."""
    if a.shape != b.shape:
        raise ValueError(f"{name}.shape={tuple(a.shape)} must equal {other}.shape={tuple(b.shape)}")
    if a.dtype != b.dtype:
        raise ValueError(f"{name}.dtype={a.dtype} must equal {other}.dtype={b.dtype}")
