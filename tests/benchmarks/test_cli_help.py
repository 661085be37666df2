"""benchmarks/cli_help.py times `--help` in fresh processes, interleaved, and compares console scripts by CPU time."""

import json
import shutil
import sys

from tests.helpers import load_benchmark


def test_table_json_and_ratio_of_two_scripts(tmp_path, capsys):
    exe = shutil.which("lightning_iter") or sys.executable
    args = ["--verbs", "bench", "strategies!", "--rounds", "2", "--out", str(tmp_path)]
    if exe != sys.executable:
        args = ["--exe", f"a={exe}", f"b={exe}", *args]
    result = load_benchmark("cli_help").main(args)
    rows = result["rows"]
    assert [r["command"] for r in rows] == ["bench --help", "strategies (run)"]
    names = list(result["exes"])
    for row in rows:
        for name in names:
            assert len(row[name]["wall_runs_s"]) == 2 and row[name]["exit_codes"] == [0]
            assert 0 < row[name]["cpu_s"] and 0 < row[name]["wall_s"]
    assert json.loads((tmp_path / "cli_help.json").read_text())["rows"][1]["command"] == "strategies (run)"
    out = capsys.readouterr().out
    assert "| `bench --help` |" in out and ("CPU ratio" in out) == (len(names) == 2)
