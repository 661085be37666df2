"""benchmarks/eval_sharing.py runs end to end on a tiny model: shared scoring runs fewer tokens, same choices."""

import json

import pytest

from tests.helpers import load_benchmark


def test_eval_sharing_table_and_json(tmp_path, capsys):
    flags = ["--rounds", "1", "--tiny_items", "1", "--tiny_layers", "1", "--tasks", "assign_basic,copy_random"]
    result = load_benchmark("eval_sharing").main([*flags, "--large_items", "0", "--out", str(tmp_path)])
    (row,) = result["rows"]
    assert row["model"] == "tiny" and row["items"] == 4 and row["same_choices"] is True
    # 5-shot prompts of hundreds of bytes and 5 or 10 choices of a few bytes: the prompt runs once, not per choice
    assert row["token_ratio"] > 4 and row["unshared_tokens"] == pytest.approx(row["token_ratio"] * row["shared_tokens"])
    assert row["cpu_ratio"] == row["unshared_cpu_s"] / row["shared_cpu_s"] and row["shared_cpu_s"] > 0
    assert json.loads((tmp_path / "eval_sharing.json").read_text())["rows"][0]["items"] == 4
    assert "| tiny | 4 |" in capsys.readouterr().out
