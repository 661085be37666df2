"""The depth score on the papers' prompt sets (seed 004 Fig. 1A, App. B; seed 000 App. J) and its figure.

One score per dataset (default GSM8K, MATH, MQuAKE), each from the future-setting skip effects on that
dataset's rows. Layers are numbered from 0 (position in the plan); the JSON says so (`index_base`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError, check_choice
from ..run_label import analysis_label
from . import io
from .datasets import DATASETS
from .effects import depth_score

Context = Any  # `analyze.Context` (not imported: analyze imports this module)

INDEX_BASE = 0


def check_sets(sets: Sequence[str]) -> list[str]:
    """`--depth_score_sets`: a non-empty list of analysis datasets, each once."""
    names = list(sets)
    if not names:
        raise ConfigError(f"--depth_score_sets={names!r} is not allowed: name at least one of {', '.join(DATASETS)}")
    for i, name in enumerate(names):
        check_choice(f"--depth_score_sets[{i}]", name, DATASETS)
    return list(dict.fromkeys(names))


def depth_score_figure(per_set: dict[str, dict[str, Any]], path: Any, label: str = "") -> None:
    """Left: the depth score per dataset (Fig. 1A); right: each dataset's normalised per-layer output effect."""
    fig, (bars, lines) = io.plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [1, 2]})
    names = list(per_set)
    scores = [per_set[n]["depth_score"] for n in names]
    bars.bar(names, scores, color=[f"C{i}" for i in range(len(names))])
    for i, score in enumerate(scores):
        bars.annotate(f"{score:.2f}", (i, score), ha="center", va="bottom", fontsize=8)
    bars.set(title="depth score (expected layer index)", ylabel=f"layer index ({INDEX_BASE}-based)")
    for i, name in enumerate(names):
        weights = per_set[name]["weights"]
        lines.plot(range(INDEX_BASE, INDEX_BASE + len(weights)), weights, marker="o", ms=3, color=f"C{i}", label=name)
    lines.set(
        title="skip layer s for tokens <= t: share of the output change at tokens > t",
        xlabel=f"layer s (effective depth, {INDEX_BASE}-based)",
        ylabel="normalised mean_dout",
    )
    depth = max(len(v["weights"]) for v in per_set.values())
    lines.set_xticks(range(INDEX_BASE, INDEX_BASE + depth))
    lines.title.set_fontsize(9)
    lines.grid(alpha=0.3)
    lines.legend(fontsize=8)
    if label:
        fig.suptitle(label, fontsize=10)
    fig.tight_layout()
    io.save_figure(fig, path)


def depth_score_analysis(ctx: Context) -> dict[str, Any]:
    """`depth_score.json` (first dataset's numbers at the top, every dataset under `datasets`) and its figure."""
    sets = check_sets(ctx.options.depth_score_sets) if ctx.datasets is not None else ["heldout"]
    per_set: dict[str, dict[str, Any]] = {}
    for name in sets:
        rows = ctx.rows("depth_score", name)
        dout = ctx.skip("future", analysis="depth_score", dataset=name)["dout"]
        per_set[name] = {**depth_score(dout), "boundaries": ctx.boundaries(rows.shape[1]), "examples": len(rows)}
    first = per_set[sets[0]]
    result = {
        **first,
        "dataset": sets[0],
        "index_base": INDEX_BASE,
        "layer_index": f"{INDEX_BASE}-based position in the plan (effective depth)",
        "datasets": per_set,
        "plan": list(ctx.model.plan),
        "inputs": ctx.inputs_of("depth_score"),
    }
    io.write_json(ctx.out / "depth_score.json", result)
    depth_score_figure(per_set, ctx.out / "depth_score.png", analysis_label(ctx.info))
    return {
        "files": ["depth_score.json", "depth_score.png"],
        "depth_score": first["depth_score"],
        "depth_score_normalized": first["depth_score_normalized"],
        "dataset": sets[0],
        "by_dataset": {n: v["depth_score"] for n, v in per_set.items()},
        "per_depth": {"depth score weight": first["weights"]},
    }
