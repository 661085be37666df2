"""Triton kernels (run by the interpreter on the CPU) against a float64 reference: outputs and all gradients."""

from __future__ import annotations

import pytest
import torch
from kernel_test_utils import DTYPES, OPS, check_op, requires_triton

pytestmark = requires_triton

ODD_SHAPES = [(37, 960), (5, 123), (1, 1), (2, 3, 576)]  # the last is [B, T, H]
DTYPE_IDS = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS.get)
@pytest.mark.parametrize("shape", ODD_SHAPES, ids=str)
@pytest.mark.parametrize("op", OPS)
def test_matches_fp64(op: str, shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> None:
    check_op(op, shape, dtype, gen)


@pytest.mark.parametrize("width", [576, 960, 2048])
@pytest.mark.parametrize("op", ["rms_norm", "fused_add_rms_norm"])
def test_smollm_hidden_widths(op: str, width: int, gen: torch.Generator) -> None:
    check_op(op, (3, width), torch.bfloat16, gen)


@pytest.mark.parametrize("width", [1536, 2560, 8192])
def test_smollm_ffn_widths(width: int, gen: torch.Generator) -> None:
    check_op("swiglu", (3, width), torch.bfloat16, gen)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS.get)
@pytest.mark.parametrize("op", ["rms_norm", "fused_add_rms_norm"])
def test_split_rows_small(op: str, dtype: torch.dtype, gen: torch.Generator, small_split: None) -> None:
    """Rows wider than the (patched) block limit take the two-pass path, including a partial last chunk."""
    check_op(op, (6, 300), dtype, gen)


@pytest.mark.parametrize(
    "op, shape, dtype",
    [
        ("rms_norm", (2, 20000), torch.bfloat16),
        ("fused_add_rms_norm", (2, 20000), torch.float32),
        ("rms_norm", (1, 65536), torch.float32),
        ("swiglu", (2, 65536), torch.float16),
    ],
    ids=str,
)
def test_wide_rows(op: str, shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> None:
    """Rows past MAX_FUSED_BLOCK (8192) with the real block sizes, up to 64K columns."""
    check_op(op, shape, dtype, gen)


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU with ~13 GiB free")
def test_more_than_2_31_elements_on_gpu() -> None:
    """rows * width > 2**31: the last rows are only right if row offsets are 64-bit (run with TRITON_INTERPRET=0)."""
    import importlib

    if importlib.import_module("lightning_iter.kernels._triton_utils").INTERPRETED:
        pytest.skip("the interpreter is far too slow for 2**31 elements; run with TRITON_INTERPRET=0")
    from lightning_iter.kernels import rms_norm, rms_norm_ref, swiglu, swiglu_ref

    width = 8192
    rows = 2**31 // width + 64
    x = torch.randn(rows, width, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(width, device="cuda", dtype=torch.bfloat16)
    tail = slice(rows - 128, rows)
    y = rms_norm(x, w, backend="triton")
    torch.testing.assert_close(y[tail], rms_norm_ref(x[tail], w), rtol=0, atol=0.02)
    del y
    out = swiglu(x, x, backend="triton")
    torch.testing.assert_close(out[tail], swiglu_ref(x[tail], x[tail]), rtol=0.01, atol=0.01)
