"""`lightning_iter report`: the command writes the table, figure and JSON; bad inputs are one line, exit 2."""

from __future__ import annotations

import json

from lightning_iter.cli import main as cli_main
from tests.eval.test_paper_report import three  # noqa: F401 - the fixture: three checkpoints and their results


def test_report_command_writes_table_and_figure(three, tmp_path, capsys):  # noqa: F811
    files, _ = three
    out = tmp_path / "report"
    status = cli_main(["report", *map(str, files), "--labels", "B,G,L", "--out", str(out)])
    printed = capsys.readouterr().out
    assert status in (0, None)
    assert "| B | 4 / 4 | 2.000 |" in printed and "| L | 2 / 4 | 2.100 |" in printed
    assert {p.name for p in out.iterdir()} == {"report.md", "pareto.png", "report.json"}
    assert [r["label"] for r in json.loads((out / "report.json").read_text())["rows"]] == ["B", "G", "L"]


def test_report_command_bad_input_is_one_line(tmp_path, capsys):
    bad = tmp_path / "x.json"
    bad.write_text("[1, 2]")
    status = cli_main(["report", str(bad), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1
    assert err == f"lightning_iter: error: report input {bad} is not a JSON object (an eval or lm-eval results file)"
