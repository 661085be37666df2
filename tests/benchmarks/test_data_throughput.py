"""benchmarks/data_throughput.py runs end to end on a small corpus and writes its table and JSON."""

import json

from tests.helpers import load_benchmark


def test_benchmark_measures_loader_and_training(tmp_path, capsys):
    result = load_benchmark("data_throughput").main(
        [
            "--documents",
            "150",
            "--batches",
            "4",
            "--steps",
            "1",
            "--seq_len",
            "32",
            "--batch_size",
            "4",
            "--vocab_size",
            "300",
            "--archs",
            "tiny",
            "--out",
            str(tmp_path),
        ]
    )
    assert [r["what"] for r in result["rows"]] == [
        "loader, 0 workers",
        "loader, 1 workers",
        "loader, 2 workers",
        "training step, tiny",
    ]
    assert all(r["tokens_per_s"] > 0 for r in result["rows"])
    assert json.loads((tmp_path / "data_throughput.json").read_text())["rows"] == result["rows"]
    assert "| loader, 2 workers | 4 |" in (tmp_path / "data_throughput.md").read_text()
    assert "slowest loader / tiny training step" in capsys.readouterr().out
