"""benchmarks/hf_import.py: the child measurement imports the written directory and reports its memory."""

import json

import torch

from lightning_iter.model.hf import from_hf
from tests.helpers import load_benchmark


def load():
    return load_benchmark("hf_import")


def test_child_measures_an_import_of_the_written_directory(tmp_path, capsys):
    bench = load()
    directory = tmp_path / "tiny"
    file_bytes = bench.write_directory("tiny", "float32", directory)
    model = from_hf(directory)
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    assert params < file_bytes < params + 100_000  # one copy of each weight plus the header
    for method in bench.METHODS:
        bench.child(method, directory)
        row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        expected = params // 2 if method == "from_hf(dtype=other)" else params
        assert row["method"] == method and row["param_bytes"] == expected
        assert row["peak_rss_touched"] >= row["peak_rss"] >= row["rss_before"] > 0
    assert next(model.parameters()).dtype == torch.float32
