"""Writing evaluation results: atomic JSON, the seeds' markdown table, and bar / line charts (PNG)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ..atomic import save_figure_atomic, write_json_atomic
from ..data.primitives import TASKS

TASK_TITLES = {
    "copy_random": "Copying (random words)",
    "copy_real": "Copying (real words)",
    "assign_basic": "Variable assignment (basic)",
    "assign_code": "Variable assignment (code)",
    "assign_math": "Variable assignment (math)",
}
"""Column titles of seed 004 Table 6 (the seeds' order: copying, then basic, code, math)."""
TABLE_ORDER = ("copy_random", "copy_real", "assign_basic", "assign_code", "assign_math")


write_json = write_json_atomic


save_figure = save_figure_atomic


def per_task(accuracy: Mapping[str, float]) -> dict[str, float]:
    """Mean accuracy of each task over the depths evaluated (`task@depth` keys), in the seeds' column order."""
    grouped: dict[str, list[float]] = {}
    for name, value in accuracy.items():
        grouped.setdefault(name.split("@")[0], []).append(value)
    order = [t for t in TABLE_ORDER if t in grouped] + [t for t in grouped if t not in TABLE_ORDER]
    return {t: sum(grouped[t]) / len(grouped[t]) for t in order}


def markdown_table(rows: Mapping[str, Mapping[str, float]], nll: Mapping[str, float] | None = None) -> str:
    """The seeds' layout (seed 004 Table 6): one row per model, a column per task (accuracy %, mean over depths), Mean.

    `rows` maps a model label to its `task@depth -> accuracy`; `nll` optionally adds a holdout NLL column.
    """
    tasks: list[str] = []
    for accuracy in rows.values():
        tasks += [t for t in per_task(accuracy) if t not in tasks]
    tasks.sort(key=lambda t: TABLE_ORDER.index(t) if t in TABLE_ORDER else len(TASKS))
    head = ["Model"] + (["Holdout NLL ↓"] if nll else []) + [TASK_TITLES.get(t, t) for t in tasks] + ["Mean"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for label, accuracy in rows.items():
        tasks_acc = per_task(accuracy)
        cells = [label] + ([f"{nll[label]:.3f}" if label in nll else "–"] if nll else [])
        cells += [f"{100 * tasks_acc[t]:.2f}" if t in tasks_acc else "–" for t in tasks]
        cells.append(f"{100 * sum(tasks_acc.values()) / len(tasks_acc):.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def depth_table(accuracy: Mapping[str, float], chance: Mapping[str, float]) -> str:
    """Accuracy of every `task@depth` next to chance (markdown)."""
    lines = ["| Task | Depth | Accuracy (%) | Chance (%) |", "|---|---:|---:|---:|"]
    for name, value in accuracy.items():
        task, depth = name.split("@")
        lines.append(f"| {task} | {depth} | {100 * value:.2f} | {100 * chance[name]:.0f} |")
    return "\n".join(lines)


def bar_chart(
    accuracy: Mapping[str, float], chance: Mapping[str, float], path: str | Path, title: str, mean: float | None = None
) -> Path:
    """Bar per `task@depth` with its chance level drawn as a tick, plus the mean (default: over tasks, as the table)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(accuracy)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.8 * len(names) + 2), 3.6))
    xs = range(len(names))
    ax.bar(xs, [100 * accuracy[n] for n in names], color="tab:blue", label="accuracy")
    ax.scatter(xs, [100 * chance[n] for n in names], marker="_", s=400, color="black", label="chance", zorder=3)
    if mean is None:
        tasks = per_task(accuracy)
        mean = sum(tasks.values()) / len(tasks)
    ax.axhline(100 * mean, color="tab:orange", linestyle="--", label=f"mean {100 * mean:.1f}%")
    ax.set_xticks(list(xs), names, rotation=40, ha="right")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    return save_figure(fig, path)


def line_chart(
    series: Mapping[str, Sequence[tuple[float, float]]],
    path: str | Path,
    title: str,
    xlabel: str,
    chance: Mapping[str, float] | None = None,
    logx: bool = False,
) -> Path:
    """One line per series of (x, accuracy) points, optional dotted chance levels: the sweeps' figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(6, 3.8))
    for name, points in series.items():
        xs, ys = zip(*points) if points else ((), ())
        (line,) = ax.plot(xs, [100 * y for y in ys], marker="o", label=name)
        if chance and name in chance:
            ax.axhline(100 * chance[name], color=line.get_color(), linestyle=":", linewidth=1)
    if logx:
        ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
