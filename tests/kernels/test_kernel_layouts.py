"""Shapes and layouts: hypothesis over shapes, strided/transposed inputs, poisoned outputs, dtype rules."""

from __future__ import annotations

import importlib
from contextlib import ExitStack
from unittest import mock

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from kernel_test_utils import DTYPES, OPS, check_op, forward_backward, make_inputs, rel_err, requires_triton

import lightning_iter.kernels as K

tu = importlib.import_module("lightning_iter.kernels._triton_utils")
pytestmark = requires_triton


@settings(max_examples=12, deadline=None)
@given(
    op=st.sampled_from(OPS),
    dtype=st.sampled_from(DTYPES),
    lead=st.lists(st.integers(1, 4), min_size=1, max_size=2),
    width=st.integers(1, 300),
    split=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_any_shape(op: str, dtype: torch.dtype, lead: list[int], width: int, split: bool, seed: int) -> None:
    """Any [rows, width] / [B, T, width]; with split, rows over 64 wide take the two-pass path in 32-chunks."""
    with ExitStack() as stack:
        if split:
            stack.enter_context(mock.patch.object(tu, "MAX_FUSED_BLOCK", 64))
            stack.enter_context(mock.patch.object(tu, "SPLIT_BLOCK", 32))
        check_op(op, (*lead, width), dtype, torch.Generator().manual_seed(seed))


STRIDED_KINDS = ["transposed", "sliced_cols", "every_other_row", "chunk_of_fused_proj", "permuted_3d"]


def _strided(kind: str, gen: torch.Generator) -> torch.Tensor:
    """A non-contiguous [..., 48] leaf of the kinds models produce."""
    views = {
        "transposed": lambda: torch.randn(48, 6, generator=gen).t(),  # column stride 6: must be copied
        "sliced_cols": lambda: torch.randn(6, 100, generator=gen)[:, 10:58],  # row stride 100, read in place
        "every_other_row": lambda: torch.randn(12, 48, generator=gen)[::2],
        "chunk_of_fused_proj": lambda: torch.randn(2, 3, 96, generator=gen).chunk(2, dim=-1)[1],
        "permuted_3d": lambda: torch.randn(3, 2, 48, generator=gen).transpose(0, 1),
    }
    view = views[kind]()
    assert not view.is_contiguous()
    return view.requires_grad_()


@pytest.mark.parametrize("kind", STRIDED_KINDS)
@pytest.mark.parametrize("op", OPS)
def test_non_contiguous_inputs(op: str, kind: str, gen: torch.Generator) -> None:
    """Strided inputs (and a strided weight) give the values and gradients of their contiguous copies."""
    names = make_inputs(op, (1, 1), torch.float32, gen).keys()
    inputs = {
        n: torch.randn(96, generator=gen)[::2].requires_grad_() if n == "weight" else _strided(kind, gen) for n in names
    }
    before = {k: v.detach().clone() for k, v in inputs.items()}
    shape = inputs[next(iter(names))].shape
    upstream = [torch.randn(shape, generator=gen) for _ in range(2 if op == "fused_add_rms_norm" else 1)]
    outs, grads = forward_backward(op, inputs, upstream, "triton")
    contiguous = {k: v.detach().contiguous().requires_grad_() for k, v in inputs.items()}
    ref_outs, ref_grads = forward_backward(op, contiguous, upstream, "torch")
    for out, ref in zip(outs, ref_outs):
        assert rel_err(out, ref) <= 1e-5
    for name in grads:
        assert rel_err(grads[name], ref_grads[name]) <= 1e-5, name
    for k, v in inputs.items():
        assert torch.equal(v.detach(), before[k]), f"{k} was modified"


@pytest.mark.parametrize("op", OPS)
def test_expanded_upstream_gradient(op: str, gen: torch.Generator) -> None:
    """`.sum().backward()` hands the backward a stride-0 gradient; it must be read correctly."""
    inputs = make_inputs(op, (5, 33), torch.float32, gen)
    ref_inputs = {k: v.detach().clone().requires_grad_() for k, v in inputs.items()}
    for inp, backend in ((inputs, "triton"), (ref_inputs, "torch")):
        outs = getattr(K, op)(*inp.values(), backend=backend)
        outs = outs if isinstance(outs, tuple) else (outs,)
        sum(o.sum() for o in outs).backward()
    for k in inputs:
        assert rel_err(inputs[k].grad, ref_inputs[k].grad) <= 1e-5, k


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("op", OPS)
def test_poisoned_outputs_are_fully_written(
    op: str, split: bool, gen: torch.Generator, poison: None, request: pytest.FixtureRequest
) -> None:
    """With every output buffer pre-filled with NaN, all outputs and gradients come back finite and right."""
    if split:
        request.getfixturevalue("small_split")
    check_op(op, (13, 130), torch.float16, gen)


@pytest.mark.parametrize("op", ["rms_norm", "fused_add_rms_norm"])
def test_mixed_weight_dtype_follows_hf(op: str, gen: torch.Generator) -> None:
    """bf16 activations with an fp32 weight: HF's `weight * h.to(bf16)` is fp32, new_residual stays bf16."""
    x = torch.randn(4, 64, generator=gen).bfloat16()
    w = torch.randn(64, generator=gen)
    args = (x, w) if op == "rms_norm" else (x, torch.randn(4, 64, generator=gen).bfloat16(), w)
    out = getattr(K, op)(*args, backend="triton")
    ref = getattr(K, op)(*args, backend="torch")
    out, ref = (out, ref) if isinstance(out, tuple) else ((out,), (ref,))
    assert out[0].dtype == torch.float32
    torch.testing.assert_close(out[0], ref[0], rtol=1e-5, atol=1e-6)
    if op == "fused_add_rms_norm":
        assert out[1].dtype == torch.bfloat16 and torch.equal(out[1], ref[1])


@pytest.mark.parametrize("op", OPS)
def test_empty_rows(op: str, gen: torch.Generator) -> None:
    inputs = make_inputs(op, (0, 16), torch.float32, gen)
    upstream = [torch.zeros(0, 16)] * (2 if op == "fused_add_rms_norm" else 1)
    outs, grads = forward_backward(op, inputs, upstream, "triton")
    assert all(o.shape == (0, 16) for o in outs)
    if "weight" in grads:
        assert torch.equal(grads["weight"], torch.zeros(16))


def test_row_strided_views_are_read_in_place(gen: torch.Generator) -> None:
    """Row-strided views (a column slice, a chunk of a fused projection) reach the kernel without a copy."""
    for view in (torch.randn(6, 100, generator=gen)[:, 10:58], torch.randn(2, 3, 96, generator=gen).chunk(2, -1)[1]):
        rows = tu.as_rows(view, 48)
        assert rows.data_ptr() == view.data_ptr() and rows.stride(-1) == 1
    transposed = torch.randn(48, 6, generator=gen).t()
    assert tu.as_rows(transposed, 48).is_contiguous()
