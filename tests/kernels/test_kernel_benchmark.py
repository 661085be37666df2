"""The kernel microbenchmark runs end to end (tiny, eager only) and writes its JSON, table and plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.helpers import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("kernels")


def test_bytes_moved(bench) -> None:
    b = bench.bytes_moved("swiglu", 4, 8, torch.bfloat16)
    assert b == {"fwd": 3 * 64, "bwd": 5 * 64, "fwd_bwd": 8 * 64}
    b = bench.bytes_moved("rms_norm", 4, 8, torch.float32)
    assert b["fwd"] == 2 * 128 + 32 and b["bwd"] == 3 * 128 + 64


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only behaviour")
def test_quick_run_writes_outputs(bench, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["--quick", "--rows", "64", "--widths", "96", "--impls", "eager", "triton", "--reps", "2", "--warmup", "1",
            "--out", str(tmp_path)]  # fmt: skip
    assert bench.main(argv) == 0
    out = capsys.readouterr()
    assert "| op | dtype | rows |" in out.out and "Triton timings need a GPU" in out.out
    payload = json.loads((tmp_path / "kernels.json").read_text())
    assert {r["impl"] for r in payload["results"]} == {"eager"}
    assert len(payload["results"]) == 3 * 2 and payload["copy_bandwidth_GBps"] > 0
    assert all(r["fwd_bwd_gbps"] > 0 and r["error"] is None for r in payload["results"])
    assert (tmp_path / "kernels.png").stat().st_size > 0 and (tmp_path / "kernels.md").exists()
