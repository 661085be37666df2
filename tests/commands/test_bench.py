"""`lightning_iter bench`: no name lists every benchmark with its doc line (exit 0); results go under the working
directory (`runs/bench/NAME/`) or `--out`, and the folder is printed."""

from __future__ import annotations

import json

from lightning_iter.cli import main
from lightning_iter.commands.bench import BENCHMARKS_DIR, available, summary


def test_no_name_lists_every_benchmark_with_its_doc_line(capsys):
    assert main(["bench"]) == 0
    out = capsys.readouterr().out
    names = available()
    assert "cli_help" in names and "growth_cost" in names
    for name in names:
        assert f"  {name}" in out and summary(name) in out
    assert summary("growth_cost").startswith("Training cost of depth growth")


def test_results_go_under_the_working_directory_not_the_source_tree(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    before = set(BENCHMARKS_DIR.rglob("cli_help.json"))
    assert main(["bench", "cli_help", "--verbs", "bench", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    written = tmp_path / "runs" / "bench" / "cli_help" / "cli_help.json"
    assert json.loads(written.read_text())["rows"][0]["command"] == "bench --help"
    assert f"results in {written.parent.resolve()}" in out
    assert set(BENCHMARKS_DIR.rglob("cli_help.json")) == before


def test_an_explicit_out_is_kept_and_printed(tmp_path, capsys):
    assert main(["bench", "cli_help", "--verbs", "bench", "--rounds", "1", "--out", str(tmp_path / "mine")]) == 0
    assert (tmp_path / "mine" / "cli_help.json").is_file()
    assert f"results in {(tmp_path / 'mine').resolve()}" in capsys.readouterr().out


def test_underscore_and_hyphen_spellings_of_a_benchmark_flag(tmp_path, capsys):
    for flag in ("--skip_measured", "--skip-measured"):
        assert main(["bench", "growth_cost", flag, "--out", str(tmp_path / flag)]) == 0
        assert "measured" not in json.loads((tmp_path / flag / "growth_cost.json").read_text())
