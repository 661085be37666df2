"""The seeds' tables: the five tasks at depth 0 and their Mean (seed 004 Table 6), depths 1-2 apart (seed 000 §4)."""

from __future__ import annotations

import pytest

from lightning_iter.errors import ConfigError
from lightning_iter.eval import report
from tests.helpers import keep_figures

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


def test_wilson_interval_matches_known_values():
    # Wilson (1927) 95 % intervals, as Newcombe (1998) Table I and statsmodels' proportion_confint(method="wilson")
    assert report.wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert report.wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert report.wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert report.wilson_interval(50, 100) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    assert report.wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)  # Newcombe's example
    assert report.accuracy_interval(0.8, 10) == report.wilson_interval(8, 10)
    assert report.wilson_interval(0, 0) == (0.0, 1.0)


@pytest.fixture
def figures(monkeypatch):
    """The figures report writes, kept for inspection (they are still saved)."""
    return keep_figures(monkeypatch, report)


def test_bar_chart_has_intervals_chance_in_the_legend_and_percent(figures, tmp_path):
    accuracy, chance = {"copy_real@0": 0.8, "assign_code@0": 0.5}, {"copy_real@0": 0.25, "assign_code@0": 0.2}
    report.bar_chart(
        accuracy, chance, tmp_path / "p.png", "Reasoning primitives: loop-tiny/version_0 step 40", n_items=10
    )
    ax = figures[-1].axes[0]
    assert ax.get_title() == "Reasoning primitives: loop-tiny/version_0 step 40"
    assert ax.get_ylabel() == "accuracy (%)" and ax.get_ylim() == (0, 100)
    labels = ax.get_legend_handles_labels()[1]
    assert "chance" in labels and "accuracy, 95 % Wilson interval" in labels and "mean 65.0 %" in labels
    bars = [p.get_height() for p in ax.patches]
    assert bars == pytest.approx([80.0, 50.0])
    (errors,) = [c for c in ax.containers if hasattr(c, "errorbar") and c.errorbar is not None]
    segments = errors.errorbar.lines[2][0].get_segments()
    low, high = report.wilson_interval(8, 10)
    assert [segments[0][0][1], segments[0][1][1]] == pytest.approx([100 * low, 100 * high])


def test_sft_line_chart_is_log_scaled_with_ticks_at_n(figures, tmp_path):
    curves = {"assign_math@1": [[0, 0.3], [4, 0.4], [16, 0.5], [64, 0.7]]}
    report.line_chart(curves, tmp_path / "s.png", "SFT", "N", chance={"assign_math@1": 0.2}, logx=True, n_items=50)
    ax = figures[-1].axes[0]
    assert ax.get_xscale() == "log"
    assert list(ax.get_xticks()) == [4, 16, 64] and [t.get_text() for t in ax.get_xticklabels()] == ["4", "16", "64"]
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["assign_math@1: N = 0 (no fine-tuning)", "assign_math@1: chance", "assign_math@1"]
    assert list(ax.lines[0].get_ydata()) == pytest.approx([40.0, 50.0, 70.0])
    levels = {line.get_label(): line.get_ydata()[0] for line in ax.lines[1:]}
    assert levels["assign_math@1: chance"] == pytest.approx(20.0)
    assert levels["assign_math@1: N = 0 (no fine-tuning)"] == pytest.approx(30.0)
    report.line_chart(curves, tmp_path / "i.png", "ICL", "shots")
    assert figures[-1].axes[0].get_xscale() == "linear"
    assert list(figures[-1].axes[0].get_xticks()) == [0, 4, 16, 64]
