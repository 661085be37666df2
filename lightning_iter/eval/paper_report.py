"""Several checkpoints' results as the seeds' tables (seed 000 Tables 1/3) and trade-off figure (seed 000 Fig. 4).

Inputs are result files: `results.json` of `lightning_iter eval` (documented keys `label`, `ckpt_path`, `repeat`,
`plan`, `heldout.loss`, `primitives.accuracy`) and lm-eval results JSON of the suite (`results`, and
`config.model_args` with `ckpt_path=`, as `lightning_iter lm_eval --output_path` writes). Files that name the
same checkpoint and `--repeat` make one row. Reasoning Primitives come from `eval` when it scored them as lm-eval
does (its default: more items, the same protocol), else from the suite's lm-eval results. Layers, parameters and
FLOPs come from the checkpoint itself and `model/flops.py`: inference FLOPs per token at the model's window;
training FLOPs = Σ over the run's steps of the cost at that step's plan (a grown model pays for the depth it had).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import save_figure_atomic, write_json_atomic, write_text_atomic
from ..errors import CheckpointError, ConfigError, check_choice
from . import report
from .suite import CATEGORIES, PRIMITIVE_TASKS, Category

FAMILIES = {"baseline": "standard", "midas": "grown", "lidas": "grown", "loop": "looped"}
FAMILY_STYLE = {"standard": ("tab:blue", "o"), "grown": ("tab:green", "^"), "looped": ("tab:gray", "s")}


@dataclass
class ModelFacts:
    """What a checkpoint says about its size and cost (layers, unique parameters, FLOPs)."""

    unique_layers: int
    effective_layers: int
    unique_params: int
    inference_flops: float
    training_flops: float
    training_steps: int
    strategy: str


@dataclass
class Row:
    """One model of the table: its label, checkpoint facts, holdout NLL and results (fractions, not %)."""

    label: str
    ckpt_path: str
    repeat: str | None
    facts: ModelFacts
    nll: float | None = None
    categories: dict[str, float] = field(default_factory=dict)
    tasks: dict[str, float] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)

    @property
    def family(self) -> str:
        """standard, grown or looped (the strategy's family), `+ repeat` when a block was repeated at inference."""
        family = FAMILIES.get(self.facts.strategy, self.facts.strategy)
        return f"{family} + repeat" if self.repeat else family


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"report input {path} does not exist: give results.json files of `lightning_iter eval` "
            "or lm-eval results_*.json files"
        ) from None
    except (OSError, ValueError) as err:
        raise ConfigError(f"report input {path} is not a readable JSON file: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"report input {path} is not a JSON object (an eval or lm-eval results file)")
    return data


def _model_args(value: Any) -> dict[str, str]:
    """lm-eval's `model_args` (a `k=v,k=v` string or a dict) as a dict."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    return dict(part.split("=", 1) for part in str(value or "").split(",") if "=" in part)


def checkpoint_facts(ckpt_path: str | Path, plan: Sequence[int] | None = None, source: str = "") -> ModelFacts:
    """Layers, unique parameters and FLOPs of a `fit` checkpoint; `plan` is the plan it was evaluated with."""
    import torch

    from ..checkpoint import read_entry
    from ..depth import get_strategy
    from ..model.config import ModelConfig
    from ..model.flops import inference_flops_per_token, run_training_flops
    from ..model.transformer import Transformer

    path = Path(ckpt_path)
    if not path.is_file():
        raise ConfigError(
            f"{source}: ckpt_path={ckpt_path} does not exist (the report reads layers, parameters and FLOPs from "
            "the checkpoint: run `lightning_iter report` where the checkpoint paths resolve)"
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same one-line error
        raise CheckpointError(f"{source}: ckpt_path={path} is not a readable PyTorch checkpoint: {err}") from None
    entry = read_entry(checkpoint, f"{source}: ckpt_path={path}")
    config = ModelConfig.from_dict({**entry["config"], "n_layers": int(entry["n_unique"])})
    plan = tuple(plan if plan is not None else entry["plan"])
    with torch.device("meta"):
        unique_params = Transformer(config, tuple(range(config.n_layers))).num_parameters()
    steps = int(checkpoint.get("global_step") or 0)
    strategy = get_strategy(**dict(entry.get("depth") or {"name": "baseline"}))
    strategy.setup(ModelConfig.from_dict({**entry["config"], "n_layers": max(int(entry["n_unique"]), 1)}))
    init_args = dict((entry.get("data") or {}).get("init_args") or {})
    seq_len = int(init_args.get("seq_len") or config.max_seq_len)
    tokens = (checkpoint.get("callbacks") or {}).get("DepthSchedule", {}).get("tokens")
    if tokens is not None and steps:
        tokens_per_step = int(tokens) // steps
    elif "batch_size" in init_args:
        tokens_per_step = int(init_args["batch_size"]) * seq_len
    else:
        raise CheckpointError(
            f"{source}: ckpt_path={path} records neither the tokens it trained on (DepthSchedule state) nor its "
            "data module's batch_size: its training FLOPs are unknown"
        )
    training = run_training_flops(config, lambda s: len(strategy.plan_at(s)), steps, tokens_per_step, seq_len)
    return ModelFacts(
        unique_layers=int(entry["n_unique"]),
        effective_layers=len(plan),
        unique_params=int(unique_params),
        inference_flops=inference_flops_per_token(config, len(plan), config.max_seq_len),
        training_flops=training,
        training_steps=steps,
        strategy=str((entry.get("depth") or {}).get("name", "baseline")),
    )


def _category_values(results: Mapping[str, Any], category: Category) -> tuple[float | None, dict[str, float]]:
    key = f"{category.metric},none"
    tasks = {t: float(results[t][key]) for t in category.tasks if key in results.get(t, {})}
    group = results.get(category.group, {}).get(key)
    return (None if group is None else float(group)), tasks


def read_rows(paths: Iterable[str | Path], labels: Sequence[str] | None = None) -> list[Row]:
    """One row per (checkpoint, repeat) named by the result files, in the order they first appear."""
    found: dict[tuple[str, str | None], dict[str, Any]] = {}
    for path in map(Path, paths):
        data = _read_json(path)
        if "results" in data and isinstance(data["results"], dict):
            args = _model_args((data.get("config") or {}).get("model_args"))
            if "ckpt_path" not in args:
                raise ConfigError(
                    f"report input {path}: config.model_args={args or None!r} has no ckpt_path: give lm-eval results "
                    "of `lightning_iter lm_eval --model lightning_iter --model_args ckpt_path=...`"
                )
            ckpt, repeat, kind = args["ckpt_path"], args.get("repeat") or None, "lm_eval"
        elif "ckpt_path" in data and ("primitives" in data or "heldout" in data):
            ckpt, repeat, kind = str(data["ckpt_path"]), data.get("repeat") or None, "eval"
        else:
            raise ConfigError(
                f"report input {path} is neither a `lightning_iter eval` results.json (keys ckpt_path and "
                "primitives/heldout) nor an lm-eval results file (keys results, config.model_args)"
            )
        # one checkpoint named relatively in one file and absolutely in another is one model (links not followed)
        slot = found.setdefault((os.path.abspath(ckpt), repeat), {"eval": [], "lm_eval": [], "path": path})
        slot[kind].append((path, data))
    if labels is not None and len(labels) != len(found):
        raise ConfigError(f"--labels has {len(labels)} label(s) for {len(found)} model(s): give one per model")
    rows = []
    for n, ((ckpt, repeat), slot) in enumerate(found.items()):
        rows.append(_row(ckpt, repeat, slot, None if labels is None else labels[n]))
    return rows


def _row(ckpt: str, repeat: str | None, slot: dict[str, Any], label: str | None) -> Row:
    evals, harness = slot["eval"], slot["lm_eval"]
    plan = next((d["plan"] for _, d in evals if d.get("plan")), None)
    facts = checkpoint_facts(ckpt, plan, str(slot["path"]))
    default = next((d["label"] for _, d in evals if d.get("label")), None)
    default = default or Path(ckpt).stem + (f" --repeat {repeat}" if repeat else "")
    row = Row(label or default, ckpt, repeat, facts, sources=[str(p) for p, _ in evals + harness])
    eval_scoring = None
    for _, data in evals:
        if isinstance(data.get("heldout"), dict) and data["heldout"].get("loss") is not None:
            row.nll = float(data["heldout"]["loss"])
        accuracy = (data.get("primitives") or {}).get("accuracy")
        columns = report.per_task(accuracy) if accuracy else {}  # the papers' columns: each task at depth 0
        row.tasks.update({f"primitives_{t}_d0": v for t, v in columns.items()})
        if set(PRIMITIVE_TASKS) <= {f"primitives_{t}_d0" for t in columns}:  # the category is all five tasks
            row.categories["reasoning_primitives"] = sum(columns.values()) / len(columns)
            # files written before `scoring` was recorded were scored with EOS by default: never assume lm_eval
            eval_scoring = data["primitives"].get("scoring", "unrecorded")
    for _, data in harness:
        for category in CATEGORIES:
            if category.key == "reasoning_primitives" and eval_scoring == "lm_eval":
                continue  # `eval`'s own primitives (more items, the same lm-eval scoring) are kept
            value, tasks = _category_values(data["results"], category)
            row.tasks.update(tasks)
            if value is not None:
                row.categories[category.key] = value
                if category.key == "reasoning_primitives":
                    eval_scoring = None
    if eval_scoring not in (None, "lm_eval"):
        row.label += f" [scoring {eval_scoring}]"  # not the papers' protocol: named where it shows
    return row


def _pct(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{100 * value:.2f}"


def results_table(rows: Sequence[Row]) -> str:
    """Seed 000 Table 1 / Table 3: model, unique / effective layers, holdout NLL, each category (markdown).

    No mean over the categories: the papers give none (F1 and accuracy do not average)."""
    shown = [c for c in CATEGORIES if any(c.key in r.categories for r in rows)]
    head = ["Model", "Layers (unique / effective)", "Holdout NLL ↓"] + [c.title for c in shown]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---", "---:"] + ["---:"] * (len(head) - 2)) + "|"]
    for r in rows:
        values = [r.categories.get(c.key) for c in shown]
        nll = "–" if r.nll is None else f"{r.nll:.3f}"
        cells = [r.label, f"{r.facts.unique_layers} / {r.facts.effective_layers}", nll]
        lines.append("| " + " | ".join(cells + [_pct(v) for v in values]) + " |")
    return "\n".join(lines)


def task_tables(rows: Sequence[Row]) -> str:
    """Seed 004 App. C Tables 3–6: each category's tasks and their Mean, one table per category with results."""
    out = []
    for category in CATEGORIES:
        tasks = [t for t in category.tasks if any(t in r.tasks for r in rows)]
        if not tasks:
            continue
        head = ["Model"] + [t.removeprefix("suite_").removeprefix("primitives_") for t in tasks] + ["Mean"]
        lines = [
            f"**{category.title}**",
            "",
            "| " + " | ".join(head) + " |",
            "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|",
        ]
        for r in rows:
            values = [r.tasks.get(t) for t in tasks]
            lines.append(
                "| " + " | ".join([r.label] + [_pct(v) for v in values] + [_pct(r.categories.get(category.key))]) + " |"
            )
        out.append("\n".join(lines))
    return "\n\n".join(out)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats (x lower or equal and y higher or equal, one strictly), by x."""
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any((x2 <= x and y2 >= y) and (x2 < x or y2 > y) for j, (x2, y2) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i])


PANELS = (
    ("unique_params", "unique parameters"),
    ("inference_flops", "inference FLOPs per token"),
    ("training_flops", "training FLOPs"),
)


def panel_points(rows: Sequence[Row], attr: str, category: str) -> list[tuple[float, float]]:
    """(cost `attr`, `category` in %) per row; % rounded to 1e-6 so that float32 noise in equal accuracies (e.g.
    0.30000001 + 0.2 vs 0.2 + 0.30000001) neither moves the axis offset nor decides the Pareto front."""
    return [(float(getattr(r.facts, attr)), round(100 * r.categories[category], 6)) for r in rows]


def pareto_figure(rows: Sequence[Row], path: str | Path, category: str = "reasoning_primitives") -> Path:
    """Seed 000 Fig. 4: `category` accuracy against unique parameters, inference and training FLOPs (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    check_choice("--category", category, [c.key for c in CATEGORIES])
    title = next(c.title for c in CATEGORIES if c.key == category)
    scored = [r for r in rows if r.categories.get(category) is not None]
    if not scored:
        raise ConfigError(f"--category={category}: none of the models has a {title} result to plot")
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.2), sharey=True)
    for ax, (attr, xlabel) in zip(axes, PANELS):
        points = panel_points(scored, attr, category)
        names: dict[tuple[float, float], list[str]] = {}
        for r, (x, y) in zip(scored, points):
            color, marker = FAMILY_STYLE.get(r.family, ("tab:purple", "D"))
            ax.scatter([x], [y], color=color, marker=marker, s=70, zorder=3, label=r.family)
            names.setdefault((x, y), []).append(r.label)
        for (x, y), labels in names.items():  # models at the same point share one label
            ax.annotate(", ".join(labels), (x, y), textcoords="offset points", xytext=(7, 6), fontsize=8)
        front = pareto_front(points)
        ax.plot(
            [points[i][0] for i in front],
            [points[i][1] for i in front],
            color="tab:red",
            linestyle="--",
            linewidth=1.2,
            drawstyle="steps-post",
            label="Pareto front",
            zorder=2,
        )
        ax.scatter(
            [points[i][0] for i in front],
            [points[i][1] for i in front],
            s=190,
            facecolors="none",
            edgecolors="tab:red",
            linewidths=1.4,
            zorder=4,
        )
        xs = [p[0] for p in points]
        if min(xs) > 0 and max(xs) / min(xs) > 20:
            ax.set_xscale("log")
        ax.margins(x=0.25, y=0.2)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(title.replace(" ↑", ""))
    handles, names = axes[0].get_legend_handles_labels()
    unique = dict(zip(names, handles))
    fig.suptitle(f"{title.split(' (')[0]} vs. model size and compute (seed 000 Fig. 4)")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.legend(unique.values(), unique.keys(), loc="lower center", ncol=len(unique), fontsize=9, frameon=False)
    return save_figure_atomic(fig, path)


def row_json(row: Row) -> dict[str, Any]:
    """A row as plain JSON (what `report.json` holds per model)."""
    return {
        "label": row.label,
        "ckpt_path": row.ckpt_path,
        "repeat": row.repeat,
        "family": row.family,
        **{f: getattr(row.facts, f) for f in row.facts.__dataclass_fields__},
        "holdout_nll": row.nll,
        "categories": row.categories,
        "tasks": row.tasks,
        "sources": row.sources,
    }


def build_report(
    paths: Sequence[str | Path],
    out: str | Path,
    labels: Sequence[str] | None = None,
    category: str = "reasoning_primitives",
) -> dict[str, Any]:
    """Write `report.md` (tables), `pareto.png` (figure) and `report.json` under `out`; returns what it wrote."""
    rows = read_rows(paths, labels)
    out = Path(out)
    table, detail = results_table(rows), task_tables(rows)
    note = (
        "Categories as seed 000 Table 1 (F1 for Q&A, accuracy otherwise, in %); Reasoning Primitives = the five "
        "tasks at depth 0 (from `lightning_iter eval` when given with its default lm-eval scoring, else from the "
        "suite's lm-eval results); as in the papers, no mean over categories. Layers, parameters and FLOPs from "
        "each checkpoint (inference FLOPs per token at the model window; training FLOPs summed over the run's plans)."
    )
    sizes = "\n".join(
        f"- {r.label}: {r.facts.unique_params:,} unique parameters, {r.facts.inference_flops:.4g} inference FLOPs "
        f"per token, {r.facts.training_flops:.4g} training FLOPs over {r.facts.training_steps:,} steps ({r.family})"
        for r in rows
    )
    text = f"{table}\n\n{note}\n\n{sizes}\n" + (f"\n{detail}\n" if detail else "")
    written = {"markdown": write_text_atomic(out / "report.md", text)}
    written["figure"] = pareto_figure(rows, out / "pareto.png", category)
    written["json"] = write_json_atomic(
        out / "report.json", {"rows": [row_json(r) for r in rows], "category": category}
    )
    return {"rows": rows, "table": table, "text": text, "written": written}
