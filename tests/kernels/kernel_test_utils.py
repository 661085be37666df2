"""Helpers for the kernel tests: fresh inputs, running an op with its gradients, error checks vs float64.

Tolerances (relative error ||out - ref|| / ||ref|| against a float64 reference):
- fp32: 1e-5. Statistics and products are fp32 and each output is rounded once (error ~1e-7).
- fp16 / bf16: 4 unit roundoffs u of the dtype (u = 2^-11 resp. 2^-8). By the semantics each output
  is rounded to the dtype at most three times on its way (h = x + residual for the fused add, the
  normalised row as in HF's `.to(input_dtype)`, the stored product), each rounding <= u relative;
  fp32 arithmetic adds ~1e-7, hence 4u.
- bf16, elementwise: the forward outputs are within 1 bf16 ulp of the PyTorch reference run in bf16
  (same rounding points; fp32 statistics may differ in the last bit).
dx of the norms is compared on the scale of its uncancelled term ||rstd * dy * w||: dx = rstd * (dy*w -
h*coef) cancels when a row is nearly constant (a 1-wide row cancels completely), and each term is
computed to the tolerance above relative to its own size.
"""

from __future__ import annotations

import pytest
import torch

from lightning_iter.kernels import HAS_TRITON, fused_add_rms_norm, rms_norm, swiglu

requires_triton = pytest.mark.skipif(not HAS_TRITON, reason="needs the triton package")

OPS = ("rms_norm", "fused_add_rms_norm", "swiglu")
DTYPES = (torch.float32, torch.float16, torch.bfloat16)
UNIT_ROUNDOFF = {torch.float32: 2.0**-24, torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8}
EPS = 1e-5


def tolerance(dtype: torch.dtype) -> float:
    """Relative-error bound for outputs stored in dtype (see the module docstring)."""
    return 1e-5 if dtype == torch.float32 else 4 * UNIT_ROUNDOFF[dtype]


def make_inputs(op: str, shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Fresh leaf inputs (requires_grad) for op with x/gate of the given shape."""

    def randn(*s: int) -> torch.Tensor:
        return torch.randn(*s, generator=gen, dtype=torch.float32).to(dtype).requires_grad_()

    if op == "rms_norm":
        return {"x": randn(*shape), "weight": randn(shape[-1])}
    if op == "fused_add_rms_norm":
        return {"x": randn(*shape), "residual": randn(*shape), "weight": randn(shape[-1])}
    if op == "swiglu":
        return {"gate": randn(*shape), "up": randn(*shape)}
    raise ValueError(op)


def run_op(op: str, inputs: dict[str, torch.Tensor], backend: str | None) -> tuple[torch.Tensor, ...]:
    """The op's outputs as a tuple."""
    if op == "rms_norm":
        return (rms_norm(inputs["x"], inputs["weight"], EPS, backend=backend),)
    if op == "fused_add_rms_norm":
        return tuple(fused_add_rms_norm(inputs["x"], inputs["residual"], inputs["weight"], EPS, backend=backend))
    return (swiglu(inputs["gate"], inputs["up"], backend=backend),)


def forward_backward(
    op: str, inputs: dict[str, torch.Tensor], upstream: list[torch.Tensor], backend: str | None
) -> tuple[tuple[torch.Tensor, ...], dict[str, torch.Tensor]]:
    """Outputs and the gradients of every input for the given upstream gradients."""
    outs = run_op(op, inputs, backend)
    grads = torch.autograd.grad(outs, list(inputs.values()), upstream)
    return tuple(o.detach() for o in outs), dict(zip(inputs, grads))


def rel_err(out: torch.Tensor, ref: torch.Tensor, scale: float = 0.0) -> float:
    """||out - ref|| / max(||ref||, scale), in float64."""
    diff = (out.double() - ref.double()).norm().item()
    denom = max(ref.double().norm().item(), scale)
    return diff / denom if denom > 0 else diff


def bf16_ulps(out: torch.Tensor, ref: torch.Tensor) -> float:
    """Largest |out - ref| in units of the bf16 spacing at max(|out|, |ref|)."""
    mag = torch.maximum(out.double().abs(), ref.double().abs())
    _, exp = torch.frexp(mag)
    ulp = torch.exp2((exp.clamp_min(-125) - 8).double())
    return ((out.double() - ref.double()).abs() / ulp).max().item() if out.numel() else 0.0


def dx_scale(inputs: dict[str, torch.Tensor], upstream: list[torch.Tensor]) -> float:
    """||rstd * dy * w|| in float64: the size of the uncancelled term of a norm's dx."""
    h = inputs["x"].detach().double()
    if "residual" in inputs:
        h = h + inputs["residual"].detach().double()
    rstd = torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + EPS)
    return (rstd * upstream[0].double() * inputs["weight"].detach().double()).norm().item()


def check_op(
    op: str, shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator, backend: str = "triton"
) -> None:
    """Run op forward and backward on fresh inputs and check every output and gradient against float64."""
    inputs = make_inputs(op, shape, dtype, gen)
    upstream = _upstream(op, inputs, gen)
    outs, grads = forward_backward(op, inputs, upstream, backend)

    inputs64 = {k: v.detach().double().requires_grad_() for k, v in inputs.items()}
    outs64, grads64 = forward_backward(op, inputs64, [u.double() for u in upstream], "torch")
    tol = tolerance(dtype)
    for i, (out, ref) in enumerate(zip(outs, outs64)):
        assert out.dtype == dtype and out.shape == ref.shape
        assert torch.isfinite(out).all(), f"{op} output {i}: non-finite values"
        err = rel_err(out, ref)
        assert err <= tol, f"{op} output {i} {dtype} {shape}: rel err {err:.3g} > {tol:.3g}"
    scale = dx_scale(inputs, upstream) if op != "swiglu" else 0.0
    for name, g in grads.items():
        ref = grads64[name]
        assert g.dtype == dtype and g.shape == ref.shape
        assert torch.isfinite(g).all(), f"{op} d{name}: non-finite values"
        err = rel_err(g, ref, scale if name in ("x", "residual") else 0.0)
        assert err <= tol, f"{op} d{name} {dtype} {shape}: rel err {err:.3g} > {tol:.3g}"
    if dtype == torch.bfloat16:
        same_dtype_ref = run_op(op, {k: v.detach() for k, v in inputs.items()}, "torch")
        for i, (out, ref) in enumerate(zip(outs, same_dtype_ref)):
            ulps = bf16_ulps(out, ref)
            assert ulps <= 1.0, f"{op} output {i} bf16 {shape}: {ulps} ulp from the bf16 reference"


def _upstream(op: str, inputs: dict[str, torch.Tensor], gen: torch.Generator) -> list[torch.Tensor]:
    """Random upstream gradients shaped like the op's outputs."""
    like = run_op(op, {k: v.detach() for k, v in inputs.items()}, "torch")
    return [torch.randn(o.shape, generator=gen).to(o.dtype) for o in like]
