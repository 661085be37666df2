"""benchmarks/activation_memory.py runs end to end on a tiny model: checkpointing holds fewer activation bytes."""

import json

from tests.helpers import load_benchmark

FLAGS = ["--archs", "tiny", "--batch", "2", "--seq_len", "16", "--rounds", "1"]


def test_activation_memory_table_and_json(tmp_path, capsys):
    result = load_benchmark("activation_memory").main([*FLAGS, "--plan", "loop", "--out", str(tmp_path)])
    (row,) = result["rows"]
    assert row["arch"] == "tiny" and row["plain_step_s"] > 0 and row["ac_step_s"] > 0
    assert row["plain_recompute_bytes"] == 0 and row["ac_recompute_bytes"] > 0
    # tiny (d_model 128, 8 layers) looped to 12 positions: each checkpointed position keeps its fp32 input
    assert row["ac_held_bytes"] >= 12 * 2 * 16 * 128 * 4
    assert row["ac_peak_activation_bytes"] < row["plain_peak_activation_bytes"]
    assert row["activation_ratio"] == row["ac_peak_activation_bytes"] / row["plain_peak_activation_bytes"]
    assert row["plain_cuda_peak_bytes"] is None  # measured on CUDA only
    assert json.loads((tmp_path / "activation_memory.json").read_text())["rows"][0]["arch"] == "tiny"
    assert f"| {row['activation_ratio']:.3f} |" in capsys.readouterr().out
