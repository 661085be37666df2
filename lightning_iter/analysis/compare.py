"""`analyze --compare`: the same analyses of several checkpoints side by side, aligned by effective depth.

Seed 000's unification (§4, Figs. 5-11): baseline, grown and looped models measured by one protocol, in one
figure per analysis, x = effective depth, each model's block boundaries marked in its colour. Boundaries come
from the model's plan (`model.plan.loop_spans`: where a repeated block's passes begin and end) and, for a grown
model, its growth block size (every `block_size` depths). Reads the JSON each run's analyses wrote.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..model.plan import loop_spans
from . import io
from .intervention_analysis import accuracy_figure
from .io import plt

GROWN = ("midas", "lidas", "grow")  # strategy names whose block size marks grown blocks


@dataclass(frozen=True)
class Run:
    """One compared checkpoint: its label, output folder, plan and block boundaries (positions between depths)."""

    label: str
    folder: Path
    plan: tuple[int, ...]
    boundaries: tuple[int, ...]
    kind: str  # "looped", "grown" or "baseline"


def block_boundaries(plan: Sequence[int], depth_info: dict[str, Any] | None) -> tuple[tuple[int, ...], str]:
    """Positions b (between depths b-1 and b) where a loop pass or a grown block begins, and the model's kind.

    A looped plan marks each pass of its repeated blocks; otherwise a grown model (its depth strategy a
    growth one) marks every `block_size` depths; a plain stack marks nothing."""
    plan = tuple(plan)
    marks: set[int] = set()
    taken: set[int] = set()  # loop_spans also lists shifted and doubled views of one loop: keep the widest cover
    for span in sorted(loop_spans(plan), key=lambda s: (-s.size * s.passes, s.size, s.start)):
        covered = set(range(span.start, span.end))
        if span.size * span.passes >= 2 and span.size > 0 and not covered & taken:
            taken |= covered
            marks.update(span.start + k * span.size for k in range(span.passes + 1))
    if marks:
        return tuple(sorted(b for b in marks if 0 < b < len(plan))), "looped"
    info = depth_info or {}
    name = str(info.get("name") or info.get("strategy") or "").lower()
    block = int(info.get("block_size") or 0)
    if block > 0 and any(g in name for g in GROWN):
        return tuple(range(block, len(plan), block)), "grown"
    return (), "baseline"


def load_run(label: str, folder: str | Path) -> Run:
    """A finished analysis folder (`summary.json` from `run_analyses`) as a compared run."""
    folder = Path(folder)
    summary_path = folder / "summary.json"
    if not summary_path.is_file():
        raise ConfigError(f"--compare: {folder} holds no summary.json: run the analyses there first")
    summary = json.loads(summary_path.read_text())
    plan = tuple(summary["plan"])
    boundaries, kind = block_boundaries(plan, (summary.get("info") or {}).get("depth"))
    return Run(label, folder, plan, boundaries, kind)


def _read(run: Run, name: str) -> dict[str, Any] | None:
    path = run.folder / name
    return json.loads(path.read_text()) if path.is_file() else None


def _colours(n: int) -> list[Any]:
    return [plt.get_cmap("tab10")(i % 10) for i in range(n)]


def _curves(
    runs: Sequence[Run],
    panels: dict[str, list[Sequence[float | None] | None]],
    xlabel: str,
    path: Path,
    first_x: int,
    title: str,
) -> Path:
    """One panel per metric, one curve per run at x = first_x, first_x+1, ...; boundaries as dashed lines.

    Per-layer values (first_x 0) put boundary b between layers b-1 and b (x = b - 0.5); exit-after-depth
    values (first_x 1) put it at x = b, the exit right after the block."""
    colours = _colours(len(runs))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.4), squeeze=False)
    for ax, (name, series) in zip(axes[0], panels.items()):
        for run, ys, colour in zip(runs, series, colours):
            if ys is None:
                continue
            xs = range(first_x, first_x + len(ys))
            ax.plot(list(xs), [float("nan") if y is None else y for y in ys], marker="o", ms=3, color=colour)
            for b in run.boundaries:
                ax.axvline(b - 0.5 if first_x == 0 else b, color=colour, ls="--", lw=0.8, alpha=0.6)
        ax.set(title=name, xlabel=xlabel)
        ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], color=c, marker="o", ms=3) for c in colours]
    labels = [f"{r.label} ({r.kind}, depth {len(r.plan)})" for r in runs]
    fig.legend(handles, labels, loc="lower center", ncol=min(len(runs), 4), fontsize=8, frameon=False)
    fig.suptitle(f"{title}  (dashed: each model's block boundaries)", fontsize=10)
    fig.subplots_adjust(bottom=0.27, top=0.84, wspace=0.25)
    return io.save_figure(fig, path)


def _matrices(
    runs: Sequence[Run],
    matrices: list[list[list[float | None]] | None],
    title: str,
    path: Path,
    axes_labels: tuple[str, str] = ("target layer (effective depth)", "source layer"),
    units: Sequence[int] | None = None,
) -> Path:
    """One heatmap per run (same colour scale), boundaries drawn on both axes.

    `units[k]`: effective depths per matrix row of run k (a similarity block size); a boundary inside a block
    is not drawn."""
    fig, axes = plt.subplots(1, len(runs), figsize=(4 * len(runs), 3.8), squeeze=False)
    values = [v for m in matrices if m for row in m for v in row if v is not None]
    vmin, vmax = (min(values), max(values)) if values else (0.0, 1.0)
    image = None
    for k, (ax, run, matrix) in enumerate(zip(axes[0], runs, matrices)):
        unit = units[k] if units else 1
        ax.set_title(f"{run.label} ({run.kind})", fontsize=9)
        if not matrix:
            ax.axis("off")
            continue
        data = [[float("nan") if v is None else v for v in row] for row in matrix]
        image = ax.imshow(data, vmin=vmin, vmax=vmax, aspect="auto", cmap="viridis")
        for b in run.boundaries:
            if b % unit == 0:
                ax.axvline(b // unit - 0.5, color="white", ls="--", lw=0.8)
                ax.axhline(b // unit - 0.5, color="white", ls="--", lw=0.8)
        ax.set_xticks(range(len(data[0])))
        ax.set_yticks(range(len(data)))
        ax.set(xlabel=axes_labels[0], ylabel=axes_labels[1] if ax is axes[0, 0] else None)
    if image is not None:
        fig.colorbar(image, ax=axes[0].tolist())
    fig.suptitle(f"{title}  (dashed: block boundaries)", fontsize=10)
    return io.save_figure(fig, path)


def _per_layer_intervention(entry: dict[str, Any] | None) -> list[float | None] | None:
    if entry is None:
        return None
    results = entry.get("results", {}).get("skip", {})
    size = min(results, key=int) if results else None
    return None if size is None else [None if e is None else e.get("loss_delta") for e in results[size]]


def compare_runs(runs: Sequence[Run], out: str | Path) -> dict[str, Any]:
    """Write `compare_<analysis>.png` for every analysis all runs have, `compare.json` and `compare.md`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figures: dict[str, str] = {}
    x_layer = "layer (effective depth, 0-based)"
    x_exit = "exit after effective depth"

    def every(name: str) -> list[dict[str, Any] | None] | None:
        found = [_read(r, name) for r in runs]
        return found if any(f is not None for f in found) else None

    def pick(found: list[dict[str, Any] | None], key: str) -> list[Any]:
        return [None if f is None else f.get(key) for f in found]

    if (found := every("depth_score.json")) is not None:
        scores = ", ".join(f"{r.label} {f['depth_score']:.2f}" for r, f in zip(runs, found) if f)
        figures["depth_score"] = _curves(
            runs, {"share of output effect": pick(found, "weights")}, x_layer,
            out / "compare_depth_score.png", 0, f"depth score: {scores}",
        ).name  # fmt: skip
    if (found := every("tuned_lens.json")) is not None:
        panels = {
            "KL(final || tuned lens)": pick(found, "kl_tuned"),
            "top-5 overlap (tuned lens)": pick(found, "top5_tuned"),
        }
        if any(pick(found, "early_exit_accuracy")):
            panels["early-exit accuracy / final"] = pick(found, "early_exit_accuracy_normalised")
        if any(pick(found, "early_exit_lambada")):  # seed 004 Fig. 8: Lambada next to the primitive
            panels["Lambada early exit / final"] = pick(found, "early_exit_lambada_normalised")
        figures["tuned_lens"] = _curves(runs, panels, x_exit, out / "compare_tuned_lens.png", 1, "tuned lens").name
    if (found := every("contributions.json")) is not None:
        panels = {
            "attention ‖a‖/‖h‖": pick(found, "attn_relative"),
            "layer ‖a+m‖/‖h‖": pick(found, "layer_relative"),
            "attention cos(a, h)": pick(found, "attn_cosine"),
        }
        figures["contributions"] = _curves(
            runs, panels, x_layer, out / "compare_contributions.png", 0, "contributions"
        ).name
    if (found := every("interventions.json")) is not None:
        figures["interventions"] = _curves(
            runs, {"skip one layer: held-out loss change": [_per_layer_intervention(f) for f in found]},
            x_layer, out / "compare_interventions.png", 0, "interventions",
        ).name  # fmt: skip
        scored = [(r.label, f, r.boundaries) for r, f in zip(runs, found) if f and f["base"].get("accuracy")]
        for op in dict.fromkeys(op for _, f, _ in scored for op in f["results"]):  # seed 004 Figs. 9-11
            path = out / f"compare_interventions_{op}.png"
            figures[f"interventions_{op}"] = accuracy_figure(scored, op, path).name
    if (found := every("future_effects.json")) is not None:
        figures["future_effects"] = _matrices(
            runs, pick(found, "propagated_future"),
            "skip layer s for tokens <= t: relative change of later layers at tokens > t",
            out / "compare_future_effects.png",
        ).name  # fmt: skip
    if (found := every("similarity.json")) is not None:
        figures["similarity"] = _matrices(
            runs, pick(found, "similarity"), "FFN weight cosine similarity of blocks", out / "compare_similarity.png",
            ("block", "block"), [int((f or {}).get("block_size") or 1) for f in found],
        ).name  # fmt: skip
    result = {
        "runs": [
            {
                "label": r.label,
                "folder": str(r.folder),
                "plan": list(r.plan),
                "kind": r.kind,
                "boundaries": list(r.boundaries),
            }
            for r in runs
        ],  # fmt: skip
        "figures": figures,
    }
    io.write_json(out / "compare.json", result)
    lines = [
        "# Depth analyses compared",
        "",
        "| run | kind | effective depth | plan | block boundaries |",
        "|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| [{r.label}]({r.folder.name}/index.md) | {r.kind} | {len(r.plan)} | `{' '.join(map(str, r.plan))}` "
            f"| {', '.join(map(str, r.boundaries)) or '–'} |"
        )
    lines += [""] + [f"## {name}\n\n![{file}]({file})\n" for name, file in figures.items()]
    io.write_text(out / "compare.md", "\n".join(lines))
    return result


def compare_labels(paths: Sequence[str], labels: Sequence[str] | None) -> list[str]:
    """`labels` if given (one per checkpoint), else each checkpoint's file stem, made unique with its position."""
    if labels:
        if len(labels) != len(paths) or len(set(labels)) != len(labels):
            raise ConfigError(
                f"--labels={list(labels)} is not allowed: give {len(paths)} distinct labels, one per --compare entry"
            )
        bad = [x for x in labels if not x or x in (".", "..") or "/" in x or "\\" in x]
        if bad:
            raise ConfigError(
                f"--labels entry {bad[0]!r} is not allowed: each label names the folder OUT/<label>/, so no '/' or '..'"
            )
        return list(labels)
    stems = [Path(str(p).removeprefix("hf:")).stem or f"run{i}" for i, p in enumerate(paths)]
    return [s if stems.count(s) == 1 else f"{i}_{s}" for i, s in enumerate(stems)]
