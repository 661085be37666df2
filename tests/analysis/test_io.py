"""Analysis figures stay legible at 32 layers: square cells, thinned 0-based ticks, block boundaries drawn."""

import pytest

from lightning_iter.analysis import io
from tests.helpers import keep_figures


@pytest.fixture
def figures(monkeypatch):
    """The figures io writes, kept for inspection (they are still saved)."""
    return keep_figures(monkeypatch, io)


def test_depth_ticks_thin_out_from_zero():
    assert io.depth_ticks(8) == list(range(8))
    assert io.depth_ticks(32) == list(range(0, 32, 2))
    assert io.depth_ticks(64) == list(range(0, 64, 4))


def test_heatmap_of_32_layers_is_readable_and_marks_blocks(figures, tmp_path):
    matrix = [[float(i == j) for j in range(32)] for i in range(32)]
    io.heatmap(matrix, "a title", "target layer (0-based)", "source", tmp_path / "h.png", boundaries=[8, 16, 24])
    fig = figures[-1]
    ax = fig.axes[0]
    width, height = fig.get_size_inches()
    assert 4 <= height <= 9 and width <= 16
    assert list(ax.get_xticks()) == list(range(0, 32, 2)) and list(ax.get_yticks()) == list(range(0, 32, 2))
    vertical = sorted({line.get_xdata()[0] for line in ax.lines if line.get_xdata()[0] == line.get_xdata()[1]})
    assert vertical == [7.5, 15.5, 23.5]
    assert ax.get_title() == "a title"
    assert (tmp_path / "h.png").is_file()


def test_depth_curves_is_one_figure_for_all_steps():
    fig = io.depth_curves([(2, [0.1, 0.2]), (4, [0.3, 0.1, 0.5])], "depth_score_weight")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["step 2", "step 4"]
    assert list(ax.lines[1].get_xdata()) == [0, 1, 2] and ax.get_xlabel() == "layer (effective depth, 0-based)"
