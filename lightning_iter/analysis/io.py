"""Atomic JSON/markdown/PNG outputs and the figure types of seed 004 (heatmaps, heat-strips, line plots)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

from ..atomic import save_figure_atomic, write_json_atomic, write_text_atomic

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

write_json = write_json_atomic  # undefined cells (NaN/inf, e.g. a layer's effect on itself) become null
write_text = write_text_atomic
save_figure = save_figure_atomic


def depth_ticks(n: int, most: int = 17) -> list[int]:
    """Tick positions 0..n-1 (0-based depth) at a step of 1, 2, 4, ... so at most `most` labels show."""
    step = 1
    while (n - 1) // step + 1 > most:
        step *= 2
    return list(range(0, n, step))


def heatmap(
    matrix: Sequence[Sequence[float | None]],
    title: str,
    xlabel: str,
    ylabel: str,
    path: str | Path,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "viridis",
    boundaries: Sequence[int] = (),
) -> Path:
    """One matrix as an image (source rows × target columns, indexed from 0), undefined cells (None/NaN) left blank.

    Square cells, ticks thinned so 32+ layers stay legible, and a line before each index in `boundaries` (where a
    loop pass or a grown block begins: `compare.block_boundaries`)."""
    data = [[float("nan") if v is None else v for v in row] for row in matrix]
    rows, cols = len(data), len(data[0])
    side = min(9.0, max(3.5, 0.22 * max(rows, cols) + 2.0))
    fig, ax = plt.subplots(figsize=(side * min(1.6, max(0.6, cols / rows)) + 1.4, side))
    image = ax.imshow(data, cmap=cmap, vmin=vmin, vmax=vmax, aspect="equal", interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.85)
    ax.set_xticks(depth_ticks(cols))
    ax.set_yticks(depth_ticks(rows))
    ax.tick_params(labelsize=8)
    for b in boundaries:
        if 0 < b < cols:
            ax.axvline(b - 0.5, color="white", linewidth=1.2)
            ax.axvline(b - 0.5, color="black", linewidth=0.6, linestyle="--")
        if 0 < b < rows:
            ax.axhline(b - 0.5, color="white", linewidth=1.2)
            ax.axhline(b - 0.5, color="black", linewidth=0.6, linestyle="--")
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.set_title(title, fontsize=9, wrap=True)
    fig.tight_layout()
    return save_figure(fig, path)


def heat_strips(
    strips: dict[str, dict[int, list[float | None]]],
    title: str,
    label: str,
    path: str | Path,
    depth: int,
    cmap: str = "magma",
    symlog: bool = False,
) -> Path:
    """Seed 004 Fig. 3/6: one panel per operation, one row per block size, one column per start position.

    `symlog` uses a symmetric-log colour scale, so a few catastrophic cells do not hide the small ones."""
    from matplotlib.colors import Normalize, SymLogNorm

    names = list(strips)
    rows = sum(len(strips[n]) for n in names)
    fig, axes = plt.subplots(len(names), 1, figsize=(1.5 + 0.4 * depth, 1.2 + 0.55 * rows), squeeze=False)
    fig.subplots_adjust(hspace=0.7)
    values = [v for n in names for row in strips[n].values() for v in row if v is not None]
    vmin, vmax = (min(values), max(values)) if values else (0.0, 1.0)
    norm = SymLogNorm(linthresh=1e-2, vmin=vmin, vmax=vmax) if symlog else Normalize(vmin=vmin, vmax=vmax)
    for ax, name in zip(axes[:, 0], names):
        sizes = sorted(strips[name])
        grid = [[float("nan") if v is None else v for v in (strips[name][s] + [None] * depth)[:depth]] for s in sizes]
        image = ax.imshow(grid or [[float("nan")] * depth], cmap=cmap, norm=norm, aspect="auto")
        ax.set_yticks(range(len(sizes)), [f"len={s}" for s in sizes])
        ax.set_xticks(range(depth))
        ax.set_title(name, fontsize=9)
    axes[-1, 0].set_xlabel("start position (effective depth)")
    fig.suptitle(title)
    fig.colorbar(image, ax=axes[:, 0].tolist(), label=label)
    return save_figure(fig, path)


def line_plot(
    series: dict[str, Sequence[float]],
    title: str,
    xlabel: str,
    ylabel: str,
    path: str | Path,
    x: Sequence[float] | None = None,
    label: str = "",
) -> Path:
    """Several per-depth curves on one axis (seed 004 Fig. 1B/C, 4); `label` (the model) leads the title."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    title = f"{label}: {title}" if label else title
    for name, ys in series.items():
        ax.plot(list(x) if x is not None else list(range(len(ys))), list(ys), marker="o", ms=3, label=name)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def line_panels(
    panels: dict[str, dict[str, Sequence[float | None]]],
    xlabel: str,
    path: str | Path,
    log_y: Sequence[str] = (),
    x: Sequence[float] | None = None,
    label: str = "",
) -> Path:
    """Side-by-side per-depth line plots, one panel per title; titles in `log_y` get a log y axis, titles ending in
    "(%)" a 0-100 one; `label` (the model) is the figure's title."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.2), squeeze=False)
    for ax, (title, series) in zip(axes[0], panels.items()):
        for name, ys in series.items():
            xs = list(x) if x is not None else list(range(len(ys)))
            ax.plot(xs, [float("nan") if y is None else y for y in ys], marker="o", ms=3, label=name)
        ax.set(title=title, xlabel=xlabel, yscale="log" if title in log_y else "linear")
        if title.endswith("(%)"):
            ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if label:
        fig.suptitle(label, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def depth_curves(history: Sequence[tuple[int, Sequence[float | None]]], title: str) -> plt.Figure:
    """One per-depth metric at every analysed training step (x: layer, 0-based; later steps lighter): the figure the
    `DepthAnalysis` callback logs, one TensorBoard tag per metric however deep the model grows."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    colours = plt.get_cmap("viridis")
    for k, (step, values) in enumerate(history):
        shade = colours(0.15 + 0.75 * k / max(len(history) - 1, 1))
        ys = [float("nan") if v is None else v for v in values]
        ax.plot(range(len(ys)), ys, marker="o", ms=3, color=shade, label=f"step {step}")
    longest = max((len(values) for _, values in history), default=1)
    ax.set_xticks(depth_ticks(longest))
    ax.set(title=title, xlabel="layer (effective depth, 0-based)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=max(1, len(history) // 8))
    fig.tight_layout()
    return fig
