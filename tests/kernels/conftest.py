"""Fixtures for the kernel tests (TRITON_INTERPRET=1 is set by tests/conftest.py before Triton loads)."""

from __future__ import annotations

import importlib
import zlib

import pytest
import torch

tu = importlib.import_module("lightning_iter.kernels._triton_utils")


@pytest.fixture
def gen(request: pytest.FixtureRequest) -> torch.Generator:
    """A generator seeded from the test id: fresh inputs in every test, reproducible on re-run."""
    return torch.Generator().manual_seed(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture
def small_split(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force the split-row path for rows wider than 64 columns (chunks of 32), so small rows exercise it."""
    monkeypatch.setattr(tu, "MAX_FUSED_BLOCK", 64)
    monkeypatch.setattr(tu, "SPLIT_BLOCK", 32)


@pytest.fixture
def poison(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fill every buffer the kernels must write with NaN first, so an element left unwritten shows."""
    monkeypatch.setattr(tu, "POISON_OUTPUTS", True)
