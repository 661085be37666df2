"""benchmarks/data_throughput.py runs end to end on a small corpus and writes its table and JSON."""

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "data_throughput.py"


def test_benchmark_measures_loader_and_training(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("lightning_iter_bench_data_throughput", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--documents", "150", "--batches", "4", "--steps", "1", "--seq_len", "32", "--batch_size", "4",
                          "--vocab_size", "300", "--archs", "tiny", "--out", str(tmp_path)])
    assert [r["what"] for r in result["rows"]] == ["loader, 0 workers", "loader, 1 workers", "loader, 2 workers",
                                                   "training step, tiny"]
    assert all(r["tokens_per_s"] > 0 for r in result["rows"])
    assert json.loads((tmp_path / "data_throughput.json").read_text())["rows"] == result["rows"]
    assert "| loader, 2 workers | 4 |" in (tmp_path / "data_throughput.md").read_text()
    assert "slowest loader / tiny training step" in capsys.readouterr().out
