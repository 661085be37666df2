"""benchmarks/train_throughput.py on CPU: the three variants' depths, tokens/s and FLOPs, skips that say why."""

import json

import pytest

from lightning_iter.model import ModelConfig, training_flops_per_token
from tests.helpers import load_benchmark


def test_smoke_grid_rows_and_json(tmp_path, capsys):
    result = load_benchmark("train_throughput").main(
        ["--smoke", "--kernels", "torch", "triton", "--out", str(tmp_path)]
    )
    rows = {(r["variant"], r["kernels"]): r for r in result["rows"]}
    assert len(rows) == 6 and result["peak_flops"] is None
    shapes = {
        v: (rows[(v, "torch")]["unique_layers"], rows[(v, "torch")]["depth"]) for v in ("baseline", "grow", "loop")
    }
    assert shapes == {"baseline": (4, 4), "grow": (3, 3), "loop": (4, 6)}  # L=4: L/2 grown to 3L/4; Loop(1-2x2-1)
    config = ModelConfig.from_name("tiny", n_layers=4, kernels="torch")
    for variant in ("baseline", "grow", "loop"):
        r = rows[(variant, "torch")]
        assert r["status"] == "ok" and r["mfu"] is None
        assert r["tokens_per_s"] == pytest.approx(2 * 32 / (r["step_ms"] / 1e3))
        flops = training_flops_per_token(config, r["depth"], 32)
        assert r["model_tflops_per_s"] == pytest.approx(r["tokens_per_s"] * flops / 1e12)
        assert rows[(variant, "triton")]["status"].startswith("skipped: triton kernels need CUDA")
    assert json.loads((tmp_path / "train_throughput.json").read_text())["rows"][0]["variant"] == "baseline"
    assert "| tiny | loop | torch | off | 4 | 6 |" in capsys.readouterr().out


def test_a_spent_budget_skips_the_remaining_combinations(tmp_path):
    result = load_benchmark("train_throughput").main(["--smoke", "--budget_s", "0", "--out", str(tmp_path)])
    assert [r["status"] for r in result["rows"]] == ["skipped: time budget"] * 3
