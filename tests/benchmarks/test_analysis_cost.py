"""benchmarks/analysis_cost.py runs every analysis at two depths of a tiny model, prints the table, writes the JSON
and extrapolates to 1.7B from the measured per-depth growth."""

import json

import pytest

from tests.helpers import load_benchmark

FLAGS = ["--shapes", "tiny", "--depths", "1", "2", "--vocab", "64", "--batch", "1", "--seq_len", "8"]
QUICK = ["depth_score", "tuned_lens", "similarity"]  # the others run the same loop; the CLI test covers them all


def test_analysis_cost_table_json_and_extrapolation(tmp_path, capsys):
    bench = load_benchmark("analysis_cost")
    result = bench.main([*FLAGS, "--analyses", *QUICK, "--lens_steps", "1", "--out", str(tmp_path)])
    rows = result["rows"]
    assert {(r["depth"], r["analysis"]) for r in rows} == {(d, a) for d in (1, 2) for a in QUICK}
    assert all(r["cpu_s"] > 0 for r in rows)
    if bench.reset_peak():  # Linux: the resident-set peak can be reset, so each analysis has its own peak
        assert all(isinstance(r["peak_bytes"], int) and r["peak_bytes"] >= 0 for r in rows)
        estimate = {e["analysis"]: e for e in result["extrapolation"]}
        assert set(estimate) == set(QUICK)
        lens = estimate["tuned_lens"]  # the translators' state is added exactly: 3 x 24 x (2048^2 + 2048) x 4 bytes
        assert lens["target_lens_state_mib"] == pytest.approx(3 * 24 * (2048**2 + 2048) * 4 / 2**20)
        assert all(e["target_peak_gib"] >= e["target_weights_gib"] > 6 for e in estimate.values())
    saved = json.loads((tmp_path / "analysis_cost.json").read_text())
    assert saved["target"] == "smollm-1.7b" and len(saved["rows"]) == len(rows)
    out = capsys.readouterr().out
    assert "| tiny | 2 | tuned_lens |" in out and "extrapolated to smollm-1.7b" in out


def test_lens_state_and_extrapolation_follow_the_stated_scaling():
    bench = load_benchmark("analysis_cost")
    assert bench.lens_state_bytes(2, 4) == 3 * 4 * 2 * (16 + 4)
    mib = 2**20
    rows = [
        {"shape": "smollm-135m", "depth": d, "analysis": a, "cpu_s": 1.0, "peak_bytes": (10 + d) * mib}
        for d in (15, 30)
        for a in bench.ANALYSES
        if a != "tuned_lens"
    ]
    from lightning_iter.model import ModelConfig

    source = ModelConfig.from_name("smollm-135m")
    estimate = {e["analysis"]: e for e in bench.extrapolate(rows, "smollm-135m", source, tokens=64)}
    # 1 MiB per depth measured at width 576 and 64 tokens -> x (1024 / 64) x (2048 / 576) per depth at 1.7B
    assert estimate["depth_score"]["per_depth_mib"] == pytest.approx(1.0)
    assert estimate["depth_score"]["target_per_depth_mib"] == pytest.approx(16 * 2048 / 576)
    assert estimate["depth_score"]["target_rest_mib"] == pytest.approx(10 * 16)  # same vocabulary
