"""benchmarks/gpu_suite.py --smoke: the three benchmarks run as child processes and land in one JSON."""

import json

import pytest

from tests.helpers import load_benchmark


@pytest.mark.slow  # three child processes, each importing torch and running its smallest case: ~30 s on 2 cores
def test_smoke_suite_writes_one_json_with_every_benchmark(tmp_path, capsys):
    suite = load_benchmark("gpu_suite").main(["--smoke", "--out", str(tmp_path)])
    assert set(suite["benchmarks"]) == {"kernels", "train_throughput", "loop_cost"}
    for name, entry in suite["benchmarks"].items():
        assert entry["returncode"] == 0, (name, entry["output_tail"])
        assert entry["result"] is not None and entry["seconds"] > 0
    assert suite["benchmarks"]["train_throughput"]["result"]["rows"][0]["status"] == "ok"
    assert suite["benchmarks"]["loop_cost"]["result"]["rows"][1]["depth"] == 3
    written = json.loads((tmp_path / "gpu_suite.json").read_text())
    assert written["benchmarks"]["kernels"]["returncode"] == 0
    assert "| train_throughput | 0 |" in capsys.readouterr().out


def test_a_benchmark_past_its_limit_is_reported_not_fatal(tmp_path):
    entry = load_benchmark("gpu_suite").run_benchmark("loop_cost", ["--reps", "1"], tmp_path, limit_s=0.01)
    assert entry["returncode"] == "timeout" and entry["result"] is None
