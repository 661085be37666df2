"""Writing evaluation results: atomic JSON, the seeds' markdown table, and bar / line charts (PNG)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ..atomic import save_figure_atomic, write_json_atomic
from ..errors import check_choice

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


AGGREGATES = ("depth0", "all_depths")
"""How a task column is formed. `depth0` (default, the papers'): the task at depth 0, the five columns of seed 004
Table 6 / seed 000 Table 1. `all_depths`: the mean over the depths evaluated (this project's earlier number)."""
DEEP_DEPTHS = (1, 2)
"""Variable assignment beyond depth 0 is reported in its own table (seed 000 §4, Fig. 3 right)."""


Z95 = 1.959963984540054
"""The two-sided 95 % quantile of the standard normal."""


def wilson_interval(correct: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval (Wilson 1927) of a binomial proportion `correct / n`, as fractions; it stays inside
    [0, 1], always contains the proportion and is not degenerate at 0 or n correct, unlike the normal
    approximation. (0, 1) when n == 0."""
    if n <= 0:
        return 0.0, 1.0
    p = correct / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(max(p * (1 - p), 0.0) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


def accuracy_interval(accuracy: float, n: int) -> tuple[float, float]:
    """The 95 % Wilson interval of an accuracy measured on `n` items."""
    return wilson_interval(accuracy * n, n)


def _split(name: str) -> tuple[str, int]:
    task, depth = name.split("@")
    return task, int(depth)


def _ordered(tasks: Iterable[str]) -> list[str]:
    tasks = list(dict.fromkeys(tasks))
    return [t for t in TABLE_ORDER if t in tasks] + [t for t in tasks if t not in TABLE_ORDER]


def per_task(accuracy: Mapping[str, float], aggregate: str = "depth0") -> dict[str, float]:
    """Each task's column in the seeds' order: its depth-0 accuracy (`depth0`; tasks without a depth-0 result are
    left out) or its mean over the depths evaluated (`all_depths`), from `task@depth -> accuracy`."""
    check_choice("aggregate", aggregate, AGGREGATES)
    grouped: dict[str, list[float]] = {}
    for name, value in accuracy.items():
        task, depth = _split(name)
        if aggregate == "all_depths" or depth == 0:
            grouped.setdefault(task, []).append(value)
    return {t: sum(grouped[t]) / len(grouped[t]) for t in _ordered(grouped)}


def task_mean(accuracy: Mapping[str, float], aggregate: str = "depth0") -> float | None:
    """The seeds' "Reasoning Primitives" Mean: the mean of the task columns (`per_task`); None without any."""
    columns = per_task(accuracy, aggregate)
    return sum(columns.values()) / len(columns) if columns else None


def deep_keys(accuracy: Mapping[str, float]) -> list[str]:
    """The `task@depth` keys of the depth table (depths 1 and 2), tasks in the seeds' order, then by depth."""
    keys = [k for k in accuracy if _split(k)[1] in DEEP_DEPTHS]
    order = _ordered(_split(k)[0] for k in keys)
    return sorted(keys, key=lambda k: (order.index(_split(k)[0]), _split(k)[1]))


def markdown_table(
    rows: Mapping[str, Mapping[str, float]], nll: Mapping[str, float] | None = None, aggregate: str = "depth0"
) -> str:
    """The seeds' layout (seed 004 Table 6): one row per model, a column per task (accuracy %), and their Mean.

    `rows` maps a model label to its `task@depth -> accuracy`; `nll` optionally adds a holdout NLL column.
    The task columns are depth 0 unless `aggregate="all_depths"` (see `AGGREGATES`).
    """
    tasks = _ordered(t for accuracy in rows.values() for t in per_task(accuracy, aggregate))
    head = ["Model"] + (["Holdout NLL ↓"] if nll else []) + [TASK_TITLES.get(t, t) for t in tasks] + ["Mean"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for label, accuracy in rows.items():
        columns = per_task(accuracy, aggregate)
        mean = task_mean(accuracy, aggregate)
        cells = [label] + ([f"{nll[label]:.3f}" if label in nll else "–"] if nll else [])
        cells += [f"{100 * columns[t]:.2f}" if t in columns else "–" for t in tasks]
        cells.append("–" if mean is None else f"{100 * mean:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def deep_table(rows: Mapping[str, Mapping[str, float]]) -> str:
    """Variable assignment at depths 1 and 2 (seed 000 §4): a column per task and depth and their mean; "" if none."""
    keys = deep_keys({k: 0.0 for accuracy in rows.values() for k in accuracy})
    if not keys:
        return ""
    head = ["Model"] + [f"{TASK_TITLES.get(t, t)} d={d}" for t, d in map(_split, keys)] + ["Mean (depths 1–2)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for label, accuracy in rows.items():
        present = [accuracy[k] for k in keys if k in accuracy]
        cells = [label] + [f"{100 * accuracy[k]:.2f}" if k in accuracy else "–" for k in keys]
        cells.append(f"{100 * sum(present) / len(present):.2f}" if present else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def caption(shots: int, n_items: int, seed: int, scoring: str = "lm_eval", aggregate: str = "depth0") -> str:
    """The note under the tables: the protocol, the scoring rule and how the task columns are formed, by name."""
    rule = {
        "lm_eval": "log-likelihood of ' ' + choice, as lm-evaluation-harness",
        "eos": "log-likelihood of ' ' + choice + EOS",
    }
    columns = {
        "depth0": "task columns are depth 0 and Mean is their mean (seed 004 Table 6)",
        "all_depths": "task columns average the depths evaluated (aggregate all_depths)",
    }
    return (
        f"Accuracy in %. {shots}-shot multiple choice, {n_items} items per task and depth (seed {seed}); "
        f"scoring {scoring}: {rule.get(scoring, scoring)}; {columns.get(aggregate, aggregate)}."
    )


def depth_table(accuracy: Mapping[str, float], chance: Mapping[str, float]) -> str:
    """Accuracy of every `task@depth` next to chance (markdown)."""
    lines = ["| Task | Depth | Accuracy (%) | Chance (%) |", "|---|---:|---:|---:|"]
    for name, value in accuracy.items():
        task, depth = name.split("@")
        lines.append(f"| {task} | {depth} | {100 * value:.2f} | {100 * chance[name]:.0f} |")
    return "\n".join(lines)


def _pyplot():  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def bar_chart(
    accuracy: Mapping[str, float],
    chance: Mapping[str, float],
    path: str | Path,
    title: str,
    mean: float | None = None,
    n_items: int | Mapping[str, int] | None = None,
) -> Path:
    """Bar per `task@depth` (accuracy %) with its 95 % Wilson interval over `n_items` items, its chance level as a
    tick (in the legend), and the mean (default: the table's, `task_mean`)."""
    plt = _pyplot()
    names = list(accuracy)
    fig, ax = plt.subplots(figsize=(max(4.5, 0.8 * len(names) + 2.5), 3.8))
    xs = list(range(len(names)))
    heights = [100 * accuracy[n] for n in names]
    yerr = None
    label = "accuracy"
    if n_items is not None:
        counts = [n_items[n] if isinstance(n_items, Mapping) else n_items for n in names]
        intervals = [accuracy_interval(accuracy[n], c) for n, c in zip(names, counts)]
        yerr = [
            [h - 100 * lo for h, (lo, _) in zip(heights, intervals)],
            [100 * hi - h for h, (_, hi) in zip(heights, intervals)],
        ]
        label = "accuracy, 95 % Wilson interval"
    ax.bar(xs, heights, color="tab:blue", label=label, yerr=yerr, capsize=3, ecolor="0.35", error_kw={"elinewidth": 1})
    ax.scatter(
        xs,
        [100 * chance[n] for n in names],
        marker="_",
        s=500,
        linewidths=2.5,
        color="tab:red",
        label="chance",
        zorder=3,
    )
    if mean is None:
        mean = task_mean(accuracy)
    if mean is not None:
        ax.axhline(100 * mean, color="tab:orange", linestyle="--", label=f"mean {100 * mean:.1f} %")
    ax.set_xticks(xs, names, rotation=40, ha="right")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def line_chart(
    series: Mapping[str, Sequence[tuple[float, float]]],
    path: str | Path,
    title: str,
    xlabel: str,
    chance: Mapping[str, float] | None = None,
    logx: bool = False,
    n_items: int | None = None,
) -> Path:
    """One line per series of (x, accuracy) points (accuracy %), with 95 % Wilson intervals over `n_items` items
    and dotted chance levels, both in the legend: the sweeps' figure. `logx`: a log x axis ticked at the x values;
    an x = 0 point (no fine-tuning) cannot sit on it, so it becomes a dashed level of its own."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ticks: set[float] = set()
    for name, points in series.items():
        zero = [y for x, y in points if logx and x == 0]
        shown = [(x, y) for x, y in points if not (logx and x == 0)]
        xs, ys = zip(*shown) if shown else ((), ())
        ticks.update(xs)
        yerr = None
        if n_items is not None and ys:
            intervals = [accuracy_interval(y, n_items) for y in ys]
            yerr = [
                [100 * (y - lo) for y, (lo, _) in zip(ys, intervals)],
                [100 * (hi - y) for y, (_, hi) in zip(ys, intervals)],
            ]
        line = ax.errorbar(xs, [100 * y for y in ys], yerr=yerr, marker="o", capsize=3, label=name)[0]
        colour = line.get_color()
        if zero:
            ax.axhline(
                100 * zero[0], color=colour, linestyle="--", linewidth=1, label=f"{name}: N = 0 (no fine-tuning)"
            )
        if chance and name in chance:
            ax.axhline(100 * chance[name], color=colour, linestyle=":", linewidth=1, label=f"{name}: chance")
    if logx:
        ax.set_xscale("log")
    ax.set_xticks(sorted(ticks), [f"{x:g}" for x in sorted(ticks)])
    ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)
