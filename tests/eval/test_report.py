"""The seeds' tables: the five tasks at depth 0 and their Mean (seed 004 Table 6), depths 1-2 apart (seed 000 §4)."""

from __future__ import annotations

import pytest

from lightning_iter.errors import ConfigError
from lightning_iter.eval import report

# seed 004 Table 6, 1.7B LIDAS: copying random / real, variable assignment basic / code / math at depth 0
LIDAS = {"copy_random@0": 0.284, "copy_real@0": 0.310, "assign_basic@0": 0.367, "assign_code@0": 0.718}
LIDAS["assign_math@0"] = 0.688
NEAR_CHANCE = {f"assign_{t}@{d}": 0.2 + 0.01 * d for t in ("basic", "code", "math") for d in (1, 2)}


def test_the_table_reproduces_the_papers_row_from_depth_zero():
    accuracy = {**NEAR_CHANCE, **LIDAS}  # the deeper, near-chance depths must not enter the columns
    table = report.markdown_table({"LIDAS 1.7B": accuracy}).splitlines()
    assert table[0] == (
        "| Model | Copying (random words) | Copying (real words) | Variable assignment (basic) "
        "| Variable assignment (code) | Variable assignment (math) | Mean |"
    )
    assert table[2] == "| LIDAS 1.7B | 28.40 | 31.00 | 36.70 | 71.80 | 68.80 | 47.34 |"
    assert report.task_mean(accuracy) == pytest.approx(0.4734)
    assert list(report.per_task(accuracy)) == list(report.TABLE_ORDER)


def test_depths_one_and_two_are_a_table_of_their_own():
    accuracy = {**LIDAS, **NEAR_CHANCE}
    deep = report.deep_table({"a": accuracy, "b": {"assign_code@2": 0.5}}).splitlines()
    assert deep[0].startswith("| Model | Variable assignment (basic) d=1 | Variable assignment (basic) d=2 |")
    assert deep[0].endswith("| Variable assignment (math) d=2 | Mean (depths 1–2) |")
    assert deep[2] == "| a | 21.00 | 22.00 | 21.00 | 22.00 | 21.00 | 22.00 | 21.50 |"
    assert deep[3] == "| b | – | – | – | 50.00 | – | – | 50.00 |"
    assert report.deep_table({"a": LIDAS}) == ""


def test_the_earlier_average_over_depths_is_a_named_option():
    accuracy = {"assign_code@0": 0.8, "assign_code@1": 0.2, "assign_code@2": 0.2, "copy_real@0": 0.4}
    assert report.per_task(accuracy) == {"copy_real": 0.4, "assign_code": 0.8}
    assert report.per_task(accuracy, "all_depths") == {"copy_real": 0.4, "assign_code": pytest.approx(0.4)}
    assert report.task_mean(accuracy, "all_depths") == pytest.approx(0.4)
    assert (
        report.markdown_table({"m": accuracy}, aggregate="all_depths").splitlines()[2]
        == "| m | 40.00 | 40.00 | 40.00 |"
    )
    assert report.task_mean({"assign_code@1": 0.3}) is None
    assert report.markdown_table({"m": {"assign_code@1": 0.3}}).splitlines()[2] == "| m | – |"
    with pytest.raises(ConfigError, match="aggregate='mean'"):
        report.per_task(accuracy, "mean")


def test_the_caption_names_the_scoring_and_the_columns():
    assert "scoring eos" in report.caption(5, 100, 0, "eos", "depth0")
    note = report.caption(5, 100, 0)
    assert "scoring lm_eval" in note and "depth 0" in note and "5-shot" in note
    assert "aggregate all_depths" in report.caption(5, 100, 0, "lm_eval", "all_depths")
