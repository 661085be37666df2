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


def heatmap(
    matrix: Sequence[Sequence[float | None]],
    title: str,
    xlabel: str,
    ylabel: str,
    path: str | Path,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "viridis",
) -> Path:
    """One matrix as an image (source rows × target columns), undefined cells (None/NaN) left blank."""
    data = [[float("nan") if v is None else v for v in row] for row in matrix]
    fig, ax = plt.subplots(figsize=(1.2 + 0.35 * max(len(data[0]), 4), 1.0 + 0.35 * max(len(data), 4)))
    image = ax.imshow(data, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    fig.colorbar(image, ax=ax)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.set_title(title, fontsize=9)
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
) -> Path:
    """Several per-depth curves on one axis (seed 004 Fig. 1B/C, 4)."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
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
) -> Path:
    """Side-by-side per-depth line plots, one panel per title; titles in `log_y` get a log y axis."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.2), squeeze=False)
    for ax, (title, series) in zip(axes[0], panels.items()):
        for name, ys in series.items():
            xs = list(x) if x is not None else list(range(len(ys)))
            ax.plot(xs, [float("nan") if y is None else y for y in ys], marker="o", ms=3, label=name)
        ax.set(title=title, xlabel=xlabel, yscale="log" if title in log_y else "linear")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, path)
