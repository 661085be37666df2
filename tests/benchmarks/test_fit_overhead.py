"""benchmarks/fit_overhead.py runs the fit step and the raw loop side by side and reports their ratio."""

import json

import pytest

from tests.helpers import load_benchmark

FLAGS = ["--rounds", "2", "--steps", "3", "--warmup", "1", "--batch", "1", "--seq_len", "8", "--n_layers", "1"]


def test_fit_overhead_table_and_json(tmp_path, capsys):
    result = load_benchmark("fit_overhead").main([*FLAGS, "--log_every_n_steps", "2", "--out", str(tmp_path)])
    row = result["row"]
    assert row["fit_ms_per_step"] > 0 and row["raw_ms_per_step"] > 0
    per_round = sorted(row["overhead_per_round"])
    assert len(per_round) == 2 and row["overhead"] == pytest.approx(sum(per_round) / 2, abs=1e-12)  # median of two
    assert row["fused_adamw"] is True  # the module's optimizer, which both variants step
    assert json.loads((tmp_path / "fit_overhead.json").read_text())["row"] == row
    out = capsys.readouterr().out
    assert "| raw PyTorch loop |" in out and f"overhead: {row['overhead'] * 100:+.1f} %" in out
