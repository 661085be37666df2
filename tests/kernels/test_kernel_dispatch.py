"""The backend switch: which implementation runs, that Triton really runs under the interpreter, and errors."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
import torch
from kernel_test_utils import OPS, make_inputs, requires_triton, run_op

import lightning_iter.kernels as K

tu = importlib.import_module("lightning_iter.kernels._triton_utils")
OP_MODULES = {op: importlib.import_module(f"lightning_iter.kernels.{op}") for op in OPS}
FWD_KERNEL = dict(
    rms_norm="_rms_norm_fwd_kernel", fused_add_rms_norm="_rms_norm_fwd_kernel", swiglu="_swiglu_fwd_kernel"
)
BWD_KERNEL = dict(
    rms_norm="_rms_norm_bwd_kernel", fused_add_rms_norm="_rms_norm_bwd_kernel", swiglu="_swiglu_bwd_kernel"
)
REF_NAME = {"rms_norm": "rms_norm_ref", "fused_add_rms_norm": "fused_add_rms_norm_ref", "swiglu": "swiglu_ref"}


def _forbid_reference(monkeypatch: pytest.MonkeyPatch, op: str) -> None:
    def boom(*args, **kwargs):
        raise AssertionError("the PyTorch reference ran on the Triton path")

    monkeypatch.setattr(OP_MODULES[op], REF_NAME[op], boom)


@requires_triton
@pytest.mark.parametrize("backend", [None, "auto", "triton"])
@pytest.mark.parametrize("op", OPS)
def test_interpreter_runs_triton(op: str, backend, gen: torch.Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under TRITON_INTERPRET=1, auto and triton launch the interpreted kernels, forward and backward."""
    assert tu.INTERPRETED and type(OP_MODULES["swiglu"]._swiglu_fwd_kernel).__name__ == "InterpretedFunction"
    _forbid_reference(monkeypatch, op)
    tu.LAUNCHES.clear()
    outs = run_op(op, make_inputs(op, (3, 40), torch.float32, gen), backend)
    assert tu.LAUNCHES[FWD_KERNEL[op]] == 1
    sum(o.float().sum() for o in outs).backward()
    assert tu.LAUNCHES[BWD_KERNEL[op]] == 1


@pytest.mark.parametrize("op", OPS)
def test_torch_backend_launches_nothing(op: str, gen: torch.Generator) -> None:
    inputs = make_inputs(op, (3, 40), torch.float32, gen)
    tu.LAUNCHES.clear()
    outs = run_op(op, inputs, "torch")
    sum(o.sum() for o in outs).backward()
    assert sum(tu.LAUNCHES.values()) == 0
    ref = getattr(K, REF_NAME[op])(*(t.detach() for t in inputs.values()))
    ref = ref if isinstance(ref, tuple) else (ref,)
    for out, r in zip(outs, ref):
        torch.testing.assert_close(out, r, rtol=0, atol=0)


def test_resolve_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.ones(2, 4)
    assert K.resolve_backend("torch", x) == "torch"
    assert K.resolve_backend(None, x.double()) == "torch"  # fp64 is not a kernel dtype: auto falls back
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert K.resolve_backend(None, x) == ("triton" if tu.HAS_TRITON else "torch")
    assert K.resolve_backend("auto", x) == ("triton" if tu.HAS_TRITON else "torch")
    monkeypatch.delenv("TRITON_INTERPRET")
    assert K.resolve_backend(None, x) == "torch"  # CPU tensors without the interpreter
    monkeypatch.setattr(tu, "HAS_TRITON", False)
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert K.resolve_backend(None, x) == "torch"
    with pytest.raises(RuntimeError, match="triton.*not installed"):
        K.resolve_backend("triton", x)


@pytest.mark.parametrize("bad", ["cuda", "Triton", "", 1])
def test_bad_backend_names_argument_value_and_choices(bad, gen: torch.Generator) -> None:
    x = torch.randn(2, 8, generator=gen)
    with pytest.raises(ValueError, match=r"backend=.*allowed values: None, 'auto', 'triton', 'torch'") as err:
        K.rms_norm(x, torch.ones(8), backend=bad)
    assert repr(bad) in str(err.value)
    with pytest.raises(ValueError, match="backend="):
        K.swiglu(x, x, backend=bad)
    with pytest.raises(ValueError, match="backend="):
        K.fused_add_rms_norm(x, x, torch.ones(8), backend=bad)


@requires_triton
def test_forced_triton_rejects_unsupported(gen: torch.Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.randn(2, 8, generator=gen, dtype=torch.float64)
    with pytest.raises(ValueError, match="dtype=torch.float64"):
        K.rms_norm(x, torch.ones(8, dtype=torch.float64), backend="triton")
    monkeypatch.setattr(tu, "INTERPRETED", False)  # as if TRITON_INTERPRET was set only after import
    with pytest.raises(RuntimeError, match="set it before"):
        K.swiglu(x.float(), x.float(), backend="triton")


def test_bad_shapes_are_clear_errors(gen: torch.Generator) -> None:
    x = torch.randn(2, 8, generator=gen)
    with pytest.raises(ValueError, match=r"weight.shape=\(7,\) must be \(8,\)"):
        K.rms_norm(x, torch.ones(7))
    with pytest.raises(ValueError, match=r"residual.shape=\(2, 4\) must equal x.shape=\(2, 8\)"):
        K.fused_add_rms_norm(x, x[:, :4], torch.ones(8))
    with pytest.raises(ValueError, match=r"residual.dtype=torch.float16 must equal x.dtype=torch.float32"):
        K.fused_add_rms_norm(x, x.half(), torch.ones(8))
    with pytest.raises(ValueError, match=r"up.shape=\(2, 4\) must equal gate.shape=\(2, 8\)"):
        K.swiglu(x, x[:, :4])
    with pytest.raises(ValueError, match="empty last"):
        K.rms_norm(torch.ones(3, 0), torch.ones(0))


_NO_TRITON_SCRIPT = r"""
import sys
sys.modules["triton"] = None  # makes `import triton` fail as if it were not installed
import torch
import lightning_iter.kernels as K
assert not K.HAS_TRITON
assert "lightning" not in sys.modules and "pytorch_lightning" not in sys.modules
x = torch.randn(3, 8)
y = K.rms_norm(x, torch.ones(8))
assert torch.equal(y, K.rms_norm_ref(x, torch.ones(8)))
assert torch.equal(K.swiglu(x, x), K.swiglu_ref(x, x))
try:
    K.rms_norm(x, torch.ones(8), backend="triton")
except RuntimeError as e:
    assert "not installed" in str(e)
else:
    raise AssertionError("backend='triton' without triton must raise")
print("ok")
"""


def test_imports_without_triton_or_lightning() -> None:
    """`lightning_iter.kernels` needs neither Lightning nor Triton; without Triton everything runs on PyTorch."""
    proc = subprocess.run([sys.executable, "-c", _NO_TRITON_SCRIPT], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
