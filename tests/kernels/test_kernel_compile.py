"""torch.compile traces the custom ops without graph breaks; the kernels compile for a real GPU target."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from functorch.compile import make_boxed_func
from kernel_test_utils import requires_triton
from torch._dynamo.backends.common import aot_autograd

from lightning_iter.kernels import (
    FusedAddRMSNormFunction,
    RMSNormFunction,
    SwiGLUFunction,
    fused_add_rms_norm,
    rms_norm,
    swiglu,
)

CUSTOM_OPS = {"lightning_iter.rms_norm", "lightning_iter.fused_add_rms_norm", "lightning_iter.swiglu"}
BACKWARD_OPS = {f"{op}_backward" for op in CUSTOM_OPS}


def _block(x, residual, weight, gate, up, backend):
    y, h = fused_add_rms_norm(x, residual, weight, backend=backend)
    return rms_norm(y, weight, backend=backend) * swiglu(gate, up, backend=backend), h


def _inputs(gen: torch.Generator) -> list[torch.Tensor]:
    shapes = [(2, 3, 16), (2, 3, 16), (16,), (2, 3, 16), (2, 3, 16)]  # x, residual, weight, gate, up
    return [torch.randn(*s, generator=gen).requires_grad_() for s in shapes]


def _targets(gm: torch.fx.GraphModule) -> set[str]:
    return {str(n.target).removesuffix(".default") for n in gm.graph.nodes if n.op == "call_function"}


@pytest.mark.parametrize("backend", ["torch", pytest.param("triton", marks=requires_triton)])
def test_compile_fullgraph(backend: str, gen: torch.Generator) -> None:
    """fullgraph=True compiles (no graph break); with Triton the forward and backward graphs hold the custom ops."""
    torch._dynamo.reset()
    graphs: dict[str, list[torch.fx.GraphModule]] = {"fw": [], "bw": []}

    def recorder(kind):
        def compiler(gm, example_inputs):
            graphs[kind].append(gm)
            return make_boxed_func(gm.forward)

        return compiler

    compiled = torch.compile(
        _block, fullgraph=True, backend=aot_autograd(fw_compiler=recorder("fw"), bw_compiler=recorder("bw"))
    )
    inputs = _inputs(gen)
    out, h = compiled(*inputs, backend)
    grads = torch.autograd.grad((out, h), inputs, (torch.ones_like(out), torch.ones_like(h)))
    ref_inputs = [t.detach().requires_grad_() for t in inputs]
    ref_out, ref_h = _block(*ref_inputs, "torch")
    ref_grads = torch.autograd.grad((ref_out, ref_h), ref_inputs, (torch.ones_like(out), torch.ones_like(h)))
    torch.testing.assert_close(out, ref_out)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r)
    fw, bw = _targets(graphs["fw"][0]), _targets(graphs["bw"][0])
    if backend == "triton":
        assert CUSTOM_OPS <= fw and BACKWARD_OPS <= bw
    else:
        assert not (fw | bw) & (CUSTOM_OPS | BACKWARD_OPS)


@requires_triton
def test_opcheck(gen: torch.Generator) -> None:
    """torch.library.opcheck: schema, fake (meta) kernels, autograd registration, AOT dispatch."""
    x, r, dy = (torch.randn(3, 16, generator=gen) for _ in range(3))
    w = torch.randn(16, generator=gen)
    rstd = torch.rand(3, generator=gen) + 0.5
    ops = torch.ops.lightning_iter
    cases = [
        (ops.rms_norm.default, (x.requires_grad_(), w.requires_grad_(), 1e-5)),
        (ops.fused_add_rms_norm.default, (x, r.requires_grad_(), w, 1e-5)),
        (ops.swiglu.default, (x, r)),
        (ops.rms_norm_backward.default, (dy, x.detach(), w.detach(), rstd)),
        (ops.fused_add_rms_norm_backward.default, (dy, dy, x.detach(), w.detach(), rstd)),
        (ops.swiglu_backward.default, (dy, x.detach(), r.detach())),
    ]
    for op, args in cases:
        torch.library.opcheck(op, args)


@requires_triton
def test_autograd_functions_match_ops(gen: torch.Generator) -> None:
    """The exported autograd.Functions are the same forward/backward the custom ops register."""
    x, r = (torch.randn(4, 24, generator=gen, requires_grad=True) for _ in range(2))
    w = torch.randn(24, generator=gen, requires_grad=True)
    y, _ = RMSNormFunction.apply(x, w, 1e-5)
    torch.testing.assert_close(y, rms_norm(x, w, backend="triton"), rtol=0, atol=0)
    y, h, _ = FusedAddRMSNormFunction.apply(x, r, w, 1e-5)
    ref_y, ref_h = fused_add_rms_norm(x, r, w, backend="triton")
    torch.testing.assert_close((y, h), (ref_y, ref_h), rtol=0, atol=0)
    out = SwiGLUFunction.apply(x, r)
    (dx,) = torch.autograd.grad(out.sum(), x)
    (ref_dx,) = torch.autograd.grad(swiglu(x, r, backend="triton").sum(), x)
    torch.testing.assert_close(dx, ref_dx, rtol=0, atol=0)


# Compiles every kernel variant for sm_90 in a process without the interpreter (ptxas ships with Triton;
# no GPU needed), and reads the Triton IR to check that each row stride is widened to int64 before it
# multiplies a row index, so rows * width beyond 2**31 elements cannot overflow.
_GPU_COMPILE_SCRIPT = r"""
import importlib, json, re
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
tu = importlib.import_module("lightning_iter.kernels._triton_utils")
rms = importlib.import_module("lightning_iter.kernels.rms_norm")
glu = importlib.import_module("lightning_iter.kernels.swiglu")
FP32 = {"RSTD", "COEF", "DW_PARTIAL"}
variants = [
    (rms._rms_norm_fwd_kernel, dict(BLOCK=1024, SPLIT=False, HAS_RESIDUAL=False), "bf16"),
    (rms._rms_norm_fwd_kernel, dict(BLOCK=8192, SPLIT=False, HAS_RESIDUAL=True), "fp16"),
    (rms._rms_norm_fwd_kernel, dict(BLOCK=4096, SPLIT=True, HAS_RESIDUAL=True), "bf16"),
    (rms._rms_norm_bwd_coef_kernel, dict(BLOCK=4096), "bf16"),
    (rms._rms_norm_bwd_kernel, dict(BLOCK=1024, SPLIT=False, HAS_DRES=False), "fp32"),
    (rms._rms_norm_bwd_kernel, dict(BLOCK=4096, SPLIT=True, HAS_DRES=True), "bf16"),
    (glu._swiglu_fwd_kernel, dict(BLOCK=1024), "bf16"),
    (glu._swiglu_bwd_kernel, dict(BLOCK=1024), "bf16"),
]
report = []
for kernel, constexprs, dtype in variants:
    sig = {}
    for p in kernel.params:
        n = p.name
        sig[n] = ("constexpr" if p.is_constexpr else "*fp32" if n in FP32 else f"*{dtype}" if n.isupper()
                  else "fp32" if n == "eps" else "i32")
    src = ASTSource(fn=kernel, signature=sig, constexprs=constexprs)
    compiled = triton.compile(src, target=GPUTarget("cuda", 90, 32),
                              options={"num_warps": tu.num_warps_for(constexprs["BLOCK"])})
    ttir = compiled.asm["ttir"]
    body = "\n".join(line for line in ttir.splitlines() if "tt.func" not in line)
    strides = [n for n in sig if n.startswith("stride") and re.search(rf"%{n}\b", body)]
    widened = all(re.search(rf"arith.extsi %{s} : i32 to i64", body) for s in strides)
    narrow = [line.strip() for line in body.splitlines()
              if "arith.muli" in line and "%stride" in line and re.search(r": i32( |$)", line)]
    report.append({"kernel": kernel.__name__, "constexprs": constexprs, "cubin": len(compiled.asm["cubin"]) > 0,
                   "strides": strides, "widened": widened, "narrow": narrow})
print(json.dumps(report))
"""


@requires_triton
def test_kernels_compile_for_gpu_with_int64_row_offsets() -> None:
    pytest.importorskip("triton.backends.nvidia")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_DEFAULT_FP_FUSION"] = "1"
    proc = subprocess.run(
        [sys.executable, "-c", _GPU_COMPILE_SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0 and "ptxas" in proc.stderr and "not found" in proc.stderr.lower():
        pytest.skip("no ptxas available to compile for the GPU")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(report) == 8
    for entry in report:
        assert entry["cubin"], entry
        assert entry["strides"] and entry["widened"] and not entry["narrow"], entry
