"""Triton availability, launch heuristics, buffer allocation and test hooks shared by the kernels."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from typing import Any

import torch

try:  # Triton is optional: without it every op runs its PyTorch reference.
    import triton
    import triton.language as tl

    HAS_TRITON = True
except Exception:  # ImportError, or a broken install that fails while importing
    triton = None
    tl = None
    HAS_TRITON = False


def _identity_jit(fn: Callable) -> Callable:
    return fn


# Kernel modules decorate with `jit`; without Triton the functions stay plain (and are never launched).
jit: Callable = triton.jit if HAS_TRITON else _identity_jit

# Triton picks interpreter or compiler when `triton.jit` runs, i.e. when the kernel modules are imported.
INTERPRETED: bool = HAS_TRITON and os.environ.get("TRITON_INTERPRET", "0") == "1"

# The interpreter casts fp32 -> bf16 by truncation (GPUs round to nearest even); `cast` fixes that.
_SOFTWARE_BF16_RNE = tl.constexpr(INTERPRETED) if HAS_TRITON else False

SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)

# Rows up to MAX_FUSED_BLOCK columns live in one block; wider rows loop over SPLIT_BLOCK-wide chunks.
MAX_FUSED_BLOCK = 8192
SPLIT_BLOCK = 4096
MIN_BLOCK = 16
ELEMENTWISE_BLOCK = 1024

# Test hooks: fill every buffer a kernel must write with NaN, and count kernel launches by name.
POISON_OUTPUTS = False
LAUNCHES: Counter = Counter()


@jit
def cast(x, dtype: tl.constexpr):
    """Round fp32 x to dtype to nearest even, on the GPU and (for bf16, in software) in the interpreter."""
    if _SOFTWARE_BF16_RNE and dtype == tl.bfloat16:
        bits = x.to(tl.uint32, bitcast=True)
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
        x = tl.where(x != x, x, bits.to(tl.float32, bitcast=True))
    return x.to(dtype)


def interpreter_requested() -> bool:
    """Whether TRITON_INTERPRET=1 is set now (the dispatcher's cue to run Triton on the CPU)."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def next_power_of_2(n: int) -> int:
    """Smallest power of two >= n (and >= 1)."""
    return 1 << max(n - 1, 0).bit_length()


def row_block(n_cols: int) -> tuple[int, bool]:
    """Block width for a row of n_cols and whether the row must be split across loop iterations."""
    block = max(MIN_BLOCK, next_power_of_2(n_cols))
    if block <= MAX_FUSED_BLOCK:
        return block, False
    return SPLIT_BLOCK, True


def num_warps_for(block: int) -> int:
    """Warps per program: about 256 elements per warp, between 1 and 16."""
    return max(1, min(16, block // 256))


def target_programs(device: torch.device) -> int:
    """How many persistent programs a reduction over rows should use on this device."""
    if device.type == "cuda":
        return 4 * torch.cuda.get_device_properties(device).multi_processor_count
    return 8  # interpreter: each program is Python, fewer means fewer partial sums to add


def alloc(shape: tuple[int, ...] | torch.Size, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Uninitialised buffer for a kernel to fill (NaN-filled when POISON_OUTPUTS is set)."""
    if POISON_OUTPUTS:
        return torch.full(shape, float("nan"), dtype=dtype, device=device)
    return torch.empty(shape, dtype=dtype, device=device)


def as_rows(t: torch.Tensor, n_cols: int) -> torch.Tensor:
    """View (or, if impossible, copy) t as [rows, n_cols] with unit column stride; rows may be strided."""
    rows = t.reshape(-1, n_cols)
    if rows.stride(-1) != 1 and n_cols > 1:
        rows = rows.contiguous()
    return rows


def check_runnable(*tensors: torch.Tensor) -> None:
    """Raise a clear error if the Triton kernels cannot run on these tensors."""
    if not HAS_TRITON:
        raise RuntimeError("backend='triton' needs the `triton` package, which is not installed; use backend='torch'")
    for t in tensors:
        if t.dtype not in SUPPORTED_DTYPES:
            raise ValueError(
                f"backend='triton' got dtype={t.dtype}; allowed: float32, float16, bfloat16 (use backend='torch')"
            )
        if not INTERPRETED and t.device.type != "cuda":
            hint = (
                "TRITON_INTERPRET=1 was set after lightning_iter.kernels was imported; set it before"
                if interpreter_requested()
                else "move the tensors to CUDA, or set TRITON_INTERPRET=1 before importing lightning_iter.kernels"
            )
            raise RuntimeError(f"backend='triton' cannot run on device={t.device}: {hint}")
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        raise ValueError(f"all tensors must be on one device, got {sorted(map(str, devices))}")


def launch(kernel: Any, grid: tuple[int, ...], *args: Any, **meta: Any) -> None:
    """Launch a Triton kernel, counting it in LAUNCHES (tests use the count to prove Triton ran)."""
    LAUNCHES[getattr(kernel, "__name__", None) or kernel.fn.__name__] += 1
    kernel[grid](*args, **meta)
