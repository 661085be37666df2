"""SwiGLU activation silu(gate) * up: Triton forward/backward kernels, custom op, autograd, API.

Casting matches `reference.swiglu_ref` (F.silu(gate) * up): silu is computed in fp32 and rounded to
the input dtype before the product, which is computed in fp32 and rounded once at the store.
Inputs may be row-strided views (e.g. the two halves of a fused gate/up projection) without a copy.
"""

from __future__ import annotations

import torch

from . import _triton_utils as tu
from ._triton_utils import cast, jit, tl
from .dispatch import check_same, resolve_backend
from .reference import swiglu_ref


@jit
def _swiglu_fwd_kernel(G, U, O, stride_g, stride_u, stride_o, n_cols, BLOCK: tl.constexpr):  # noqa: E741
    """Program (row, c): out = silu(gate).to(dtype) * up for one BLOCK-wide chunk of one row."""
    row = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < n_cols
    g = tl.load(G + row * stride_g + cols, mask=mask, other=0.0).to(tl.float32)
    u = tl.load(U + row * stride_u + cols, mask=mask, other=0.0).to(tl.float32)
    silu = cast(g * tl.sigmoid(g), G.dtype.element_ty).to(tl.float32)
    tl.store(O + row * stride_o + cols, cast(silu * u, O.dtype.element_ty), mask=mask)


@jit
def _swiglu_bwd_kernel(
    DO, G, U, DG, DU,
    stride_do, stride_g, stride_u, stride_dg, stride_du,
    n_cols, BLOCK: tl.constexpr,
):  # fmt: skip
    """Program (row, c): dgate = dout * up * silu'(gate), dup = dout * silu(gate).to(dtype)."""
    row = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < n_cols
    do = tl.load(DO + row * stride_do + cols, mask=mask, other=0.0).to(tl.float32)
    g = tl.load(G + row * stride_g + cols, mask=mask, other=0.0).to(tl.float32)
    u = tl.load(U + row * stride_u + cols, mask=mask, other=0.0).to(tl.float32)
    sig = tl.sigmoid(g)
    silu = cast(g * sig, G.dtype.element_ty).to(tl.float32)
    tl.store(DU + row * stride_du + cols, cast(do * silu, DU.dtype.element_ty), mask=mask)
    dg = do * u * sig * (1.0 + g * (1.0 - sig))
    tl.store(DG + row * stride_dg + cols, cast(dg, DG.dtype.element_ty), mask=mask)


def _grid(n_rows: int, n_cols: int) -> tuple[tuple[int, int], int]:
    block = min(tu.ELEMENTWISE_BLOCK, max(tu.MIN_BLOCK, tu.next_power_of_2(n_cols)))
    return (n_rows, -(-n_cols // block)), block


def swiglu_forward(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """Launch the forward kernel; the output is contiguous with gate's shape and dtype."""
    tu.check_runnable(gate, up)
    n_cols = gate.shape[-1] if gate.dim() else 1
    g2, u2 = tu.as_rows(gate, n_cols), tu.as_rows(up, n_cols)
    out = tu.alloc(gate.shape, gate.dtype, gate.device)
    if out.numel() == 0:
        return out
    o2 = out.view(-1, n_cols)
    grid, block = _grid(g2.shape[0], n_cols)
    tu.launch(
        _swiglu_fwd_kernel, grid,
        g2, u2, o2, g2.stride(0), u2.stride(0), o2.stride(0), n_cols,
        BLOCK=block, num_warps=tu.num_warps_for(block),
    )  # fmt: skip
    return out


def swiglu_backward(dout: torch.Tensor, gate: torch.Tensor, up: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Launch the backward kernel: (dgate, dup), contiguous, in the input dtype."""
    n_cols = gate.shape[-1] if gate.dim() else 1
    do2, g2, u2 = tu.as_rows(dout, n_cols), tu.as_rows(gate, n_cols), tu.as_rows(up, n_cols)
    dgate = tu.alloc(gate.shape, gate.dtype, gate.device)
    dup = tu.alloc(up.shape, up.dtype, up.device)
    if dgate.numel() == 0:
        return dgate, dup
    dg2, du2 = dgate.view(-1, n_cols), dup.view(-1, n_cols)
    grid, block = _grid(g2.shape[0], n_cols)
    tu.launch(
        _swiglu_bwd_kernel, grid,
        do2, g2, u2, dg2, du2,
        do2.stride(0), g2.stride(0), u2.stride(0), dg2.stride(0), du2.stride(0),
        n_cols, BLOCK=block, num_warps=tu.num_warps_for(block),
    )  # fmt: skip
    return dgate, dup


@torch.library.custom_op("lightning_iter::swiglu", mutates_args=())
def _swiglu_op(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    return swiglu_forward(gate, up)


@_swiglu_op.register_fake
def _swiglu_fake(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    return gate.new_empty(gate.shape)


@torch.library.custom_op("lightning_iter::swiglu_backward", mutates_args=())
def _swiglu_backward_op(dout: torch.Tensor, gate: torch.Tensor, up: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return swiglu_backward(dout, gate, up)


@_swiglu_backward_op.register_fake
def _swiglu_backward_fake(
    dout: torch.Tensor, gate: torch.Tensor, up: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    return gate.new_empty(gate.shape), up.new_empty(up.shape)


class SwiGLUFunction(torch.autograd.Function):
    """Autograd for the Triton SwiGLU; its setup_context/backward are also registered on the custom op."""

    @staticmethod
    def forward(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
        return torch.ops.lightning_iter.swiglu(gate, up)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, dout: torch.Tensor):
        gate, up = ctx.saved_tensors
        return tuple(torch.ops.lightning_iter.swiglu_backward(dout, gate, up))


_swiglu_op.register_autograd(SwiGLUFunction.backward, setup_context=SwiGLUFunction.setup_context)


def swiglu(gate: torch.Tensor, up: torch.Tensor, backend: str | None = None) -> torch.Tensor:
    """silu(gate) * up, the LLaMA MLP activation, fused into one read of each input and one write."""
    check_same("up", up, "gate", gate)
    if resolve_backend(backend, gate, up) == "torch":
        return swiglu_ref(gate, up)
    return torch.ops.lightning_iter.swiglu(gate, up)
