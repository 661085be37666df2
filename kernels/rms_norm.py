"""RMSNorm: Triton forward/backward kernels (shared with the fused add+RMSNorm), custom op, autograd, API.

Casting follows `reference.rms_norm_ref` (HF LlamaRMSNorm): statistics in fp32, the normalised row
rounded to x's dtype, then multiplied by the weight and stored in promote_types(x.dtype, weight.dtype).

Rows of up to MAX_FUSED_BLOCK columns are held in one block. Wider rows are split: the forward loops
over column chunks twice (sum of squares, then normalise), and the backward first computes each row's
dx coefficient in a loop, then runs a grid over (row group, column chunk). Row offsets are int64.
"""

from __future__ import annotations

import torch

from . import _triton_utils as tu
from ._triton_utils import cast, jit, tl
from .dispatch import check_norm_args, resolve_backend
from .reference import rms_norm_ref


@jit
def _load_h(X, R, row, stride_x, stride_r, cols, mask, HAS_RESIDUAL: tl.constexpr):
    """A row chunk of h = x (+ residual, rounded to x's dtype as PyTorch's add is), in x's dtype."""
    h = tl.load(X + row * stride_x + cols, mask=mask, other=0.0)
    if HAS_RESIDUAL:
        r = tl.load(R + row * stride_r + cols, mask=mask, other=0.0)
        h = cast(h.to(tl.float32) + r.to(tl.float32), X.dtype.element_ty)
    return h


@jit
def _normalize_store(h, rstd, W, Y, H, row, stride_y, stride_h, cols, mask, HAS_RESIDUAL: tl.constexpr):
    """Store y = weight * (h * rstd).to(h.dtype) for a row chunk (and h itself for the fused add)."""
    if HAS_RESIDUAL:
        tl.store(H + row * stride_h + cols, h, mask=mask)
    normed = cast(h.to(tl.float32) * rstd, h.dtype).to(tl.float32)
    w = tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
    tl.store(Y + row * stride_y + cols, cast(normed * w, Y.dtype.element_ty), mask=mask)


@jit
def _rms_norm_fwd_kernel(
    X, R, W, Y, H, RSTD,
    stride_x, stride_r, stride_y, stride_h,
    n_cols, eps,
    BLOCK: tl.constexpr, SPLIT: tl.constexpr, HAS_RESIDUAL: tl.constexpr,
):  # fmt: skip
    """One program per row; a SPLIT row is read twice in BLOCK-wide chunks instead of held at once."""
    row = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, BLOCK)
    if SPLIT:
        acc = tl.zeros([BLOCK], dtype=tl.float32)
        for start in range(0, n_cols, BLOCK):
            cols = start + offs
            mask = cols < n_cols
            h = _load_h(X, R, row, stride_x, stride_r, cols, mask, HAS_RESIDUAL).to(tl.float32)
            acc += h * h
        rstd = tl.rsqrt(tl.sum(acc, axis=0) / n_cols + eps)
        for start in range(0, n_cols, BLOCK):
            cols = start + offs
            mask = cols < n_cols
            h = _load_h(X, R, row, stride_x, stride_r, cols, mask, HAS_RESIDUAL)
            _normalize_store(h, rstd, W, Y, H, row, stride_y, stride_h, cols, mask, HAS_RESIDUAL)
    else:
        mask = offs < n_cols
        h = _load_h(X, R, row, stride_x, stride_r, offs, mask, HAS_RESIDUAL)
        hf = h.to(tl.float32)
        rstd = tl.rsqrt(tl.sum(hf * hf, axis=0) / n_cols + eps)
        _normalize_store(h, rstd, W, Y, H, row, stride_y, stride_h, offs, mask, HAS_RESIDUAL)
    tl.store(RSTD + row, rstd)


@jit
def _rms_norm_bwd_coef_kernel(DY, H, W, RSTD, COEF, stride_dy, stride_h, n_cols, BLOCK: tl.constexpr):
    """One program per (split) row: coef = rstd^2 * sum(dy * w * h) / n_cols, the row term of dx."""
    row = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, BLOCK)
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for start in range(0, n_cols, BLOCK):
        cols = start + offs
        mask = cols < n_cols
        dy = tl.load(DY + row * stride_dy + cols, mask=mask, other=0.0).to(tl.float32)
        h = tl.load(H + row * stride_h + cols, mask=mask, other=0.0).to(tl.float32)
        w = tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
        acc += dy * w * h
    rstd = tl.load(RSTD + row)
    tl.store(COEF + row, tl.sum(acc, axis=0) * rstd * rstd / n_cols)


@jit
def _rms_norm_bwd_kernel(
    DY, DRES, H, W, RSTD, COEF, DX, DW_PARTIAL,
    stride_dy, stride_dres, stride_h, stride_dx,
    n_rows, n_cols, rows_per_program,
    BLOCK: tl.constexpr, SPLIT: tl.constexpr, HAS_DRES: tl.constexpr,
):  # fmt: skip
    """Program (g, c): dx for rows [g*rows_per_program, ...) in column chunk c, and their dweight sum.

    dx = rstd * (dy*w - h*coef) (+ dres), dweight = sum over rows of dy * (h*rstd).to(h.dtype);
    each program writes its fp32 partial dweight to row g of DW_PARTIAL (summed afterwards, no atomics).
    """
    g = tl.program_id(0)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < n_cols
    w = tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
    dw = tl.zeros([BLOCK], dtype=tl.float32)
    row_start = g.to(tl.int64) * rows_per_program
    row_end = tl.minimum(row_start + rows_per_program, n_rows)
    for row in range(row_start, row_end):
        dy = tl.load(DY + row * stride_dy + cols, mask=mask, other=0.0).to(tl.float32)
        h_raw = tl.load(H + row * stride_h + cols, mask=mask, other=0.0)
        h = h_raw.to(tl.float32)
        rstd = tl.load(RSTD + row)
        dn = dy * w
        if SPLIT:
            coef = tl.load(COEF + row)
        else:
            coef = tl.sum(dn * h, axis=0) * rstd * rstd / n_cols
        dx = (dn - h * coef) * rstd
        if HAS_DRES:
            dx += tl.load(DRES + row * stride_dres + cols, mask=mask, other=0.0).to(tl.float32)
        tl.store(DX + row * stride_dx + cols, cast(dx, DX.dtype.element_ty), mask=mask)
        dw += dy * cast(h * rstd, h_raw.dtype).to(tl.float32)
    tl.store(DW_PARTIAL + g.to(tl.int64) * n_cols + cols, dw, mask=mask)


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def rms_norm_forward(
    x: torch.Tensor, weight: torch.Tensor, eps: float, residual: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Launch the forward kernel: (y, h, rstd), h = x + residual (None without residual), rstd fp32 [...]."""
    tu.check_runnable(x, weight, *(() if residual is None else (residual,)))
    n_cols = x.shape[-1]
    x2 = tu.as_rows(x, n_cols)
    r2 = x2 if residual is None else tu.as_rows(residual, n_cols)
    weight = weight.contiguous()
    y = tu.alloc(x.shape, torch.promote_types(x.dtype, weight.dtype), x.device)
    h = None if residual is None else tu.alloc(x.shape, x.dtype, x.device)
    rstd = tu.alloc(x.shape[:-1], torch.float32, x.device)
    n_rows = x2.shape[0]
    if n_rows == 0:
        return y, h, rstd
    y2 = y.view(-1, n_cols)
    h2 = y2 if h is None else h.view(-1, n_cols)
    block, split = tu.row_block(n_cols)
    tu.launch(
        _rms_norm_fwd_kernel, (n_rows,),
        x2, r2, weight, y2, h2, rstd,
        x2.stride(0), r2.stride(0), y2.stride(0), h2.stride(0),
        n_cols, eps,
        BLOCK=block, SPLIT=split, HAS_RESIDUAL=residual is not None, num_warps=tu.num_warps_for(block),
    )  # fmt: skip
    return y, h, rstd


def rms_norm_backward(
    dy: torch.Tensor, h: torch.Tensor, weight: torch.Tensor, rstd: torch.Tensor,
    dres: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Launch the backward kernels: (dh, dweight) for the normalised input h, plus dres if given."""
    n_cols = h.shape[-1]
    dy2 = tu.as_rows(dy, n_cols)
    h2 = tu.as_rows(h, n_cols)
    dres2 = dy2 if dres is None else tu.as_rows(dres, n_cols)
    rstd1 = rstd.reshape(-1).contiguous()
    weight = weight.contiguous()
    dx = tu.alloc(h.shape, h.dtype, h.device)
    n_rows = h2.shape[0]
    if n_rows == 0:
        return dx, torch.zeros_like(weight)
    dx2 = dx.view(-1, n_cols)
    block, split = tu.row_block(n_cols)
    n_chunks = _cdiv(n_cols, block)
    rows_per_program = _cdiv(n_rows, max(1, min(n_rows, tu.target_programs(h.device) // n_chunks)))
    n_groups = _cdiv(n_rows, rows_per_program)
    dw_partial = tu.alloc((n_groups, n_cols), torch.float32, h.device)
    coef = rstd1
    num_warps = tu.num_warps_for(block)
    if split:
        coef = tu.alloc((n_rows,), torch.float32, h.device)
        tu.launch(
            _rms_norm_bwd_coef_kernel, (n_rows,),
            dy2, h2, weight, rstd1, coef, dy2.stride(0), h2.stride(0), n_cols,
            BLOCK=block, num_warps=num_warps,
        )  # fmt: skip
    tu.launch(
        _rms_norm_bwd_kernel, (n_groups, n_chunks),
        dy2, dres2, h2, weight, rstd1, coef, dx2, dw_partial,
        dy2.stride(0), dres2.stride(0), h2.stride(0), dx2.stride(0),
        n_rows, n_cols, rows_per_program,
        BLOCK=block, SPLIT=split, HAS_DRES=dres is not None, num_warps=num_warps,
    )  # fmt: skip
    return dx, dw_partial.sum(0).to(weight.dtype)


@torch.library.custom_op("lightning_iter::rms_norm", mutates_args=())
def _rms_norm_op(x: torch.Tensor, weight: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    y, _, rstd = rms_norm_forward(x, weight, eps)
    return y, rstd


@_rms_norm_op.register_fake
def _rms_norm_fake(x: torch.Tensor, weight: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    y = x.new_empty(x.shape, dtype=torch.promote_types(x.dtype, weight.dtype))
    return y, x.new_empty(x.shape[:-1], dtype=torch.float32)


@torch.library.custom_op("lightning_iter::rms_norm_backward", mutates_args=())
def _rms_norm_backward_op(
    dy: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, rstd: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    return rms_norm_backward(dy, x, weight, rstd)


@_rms_norm_backward_op.register_fake
def _rms_norm_backward_fake(
    dy: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, rstd: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    return x.new_empty(x.shape), weight.new_empty(weight.shape)


class RMSNormFunction(torch.autograd.Function):
    """Autograd for the Triton RMSNorm; its setup_context/backward are also registered on the custom op."""

    @staticmethod
    def forward(x: torch.Tensor, weight: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.ops.lightning_iter.rms_norm(x, weight, eps)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        x, weight, _ = inputs
        _, rstd = output
        ctx.mark_non_differentiable(rstd)
        ctx.save_for_backward(x, weight, rstd)

    @staticmethod
    def backward(ctx, dy: torch.Tensor, _drstd: torch.Tensor | None):
        x, weight, rstd = ctx.saved_tensors
        if dy is None:
            dy = torch.zeros_like(x, dtype=torch.promote_types(x.dtype, weight.dtype))
        dx, dw = torch.ops.lightning_iter.rms_norm_backward(dy, x, weight, rstd)
        return dx, dw, None


_rms_norm_op.register_autograd(RMSNormFunction.backward, setup_context=RMSNormFunction.setup_context)


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5, backend: str | None = None) -> torch.Tensor:
    """RMSNorm over the last dimension of x[..., H] with weight[H] (HF LlamaRMSNorm casting; see module doc)."""
    check_norm_args(x, weight)
    if resolve_backend(backend, x, weight) == "torch":
        return rms_norm_ref(x, weight, eps)
    return torch.ops.lightning_iter.rms_norm(x, weight, eps)[0]
