"""benchmarks/loop_cost.py runs end to end on a tiny model and reports ratios against the linear model."""

import json

from tests.helpers import load_benchmark

FLAGS = [
    "--n_layers",
    "2",
    "--block",
    "0:1",
    "--batch",
    "1",
    "--seq_len",
    "16",
    "--prompt_len",
    "4",
    "--new_tokens",
    "2",
]


def load():
    return load_benchmark("loop_cost")


def test_loop_cost_table_and_json(tmp_path, capsys):
    result = load().main([*FLAGS, "--max_extra", "2", "--reps", "1", "--skip_memory", "--out", str(tmp_path)])
    rows = result["rows"]
    assert [r["depth"] for r in rows] == [2, 3, 4]
    assert [r["linear"] for r in rows] == [1.0, 1.5, 2.0]
    assert rows[0]["forward_s_ratio"] == 1.0 and all(r["forward_s"] > 0 and r["generate_s"] > 0 for r in rows)
    assert rows[2]["forward_s_vs_linear"] == rows[2]["forward_s_ratio"] / 2.0
    # per-pass KV cache grows with the effective depth, the shared one does not
    assert [r["kv_per_pass_bytes"] for r in rows] == [rows[0]["kv_per_pass_bytes"] * d // 2 for d in (2, 3, 4)]
    assert len({r["kv_shared_bytes"] for r in rows}) == 1
    assert json.loads((tmp_path / "loop_cost.json").read_text())["rows"][1]["depth"] == 3
    assert "| 2 | 4 | 2.000 |" in capsys.readouterr().out


def test_memory_child_reports_a_byte_count(capsys):
    load().main([*FLAGS, "--_child", "forward", "--_extra", "1"])
    assert int(float(capsys.readouterr().out.strip())) >= 0
