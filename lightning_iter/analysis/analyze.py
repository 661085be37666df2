"""The analysis suite: named analyses that each write JSON + PNG into one folder, and the `all` index page.

Every analysis works on the model's current plan (baseline, grown, looped or repeated) and indexes
its results by effective depth; `run_analyses` is what `lightning_iter analyze` and the training
callback call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..data.tokenizer import Tokenizer
from ..errors import ConfigError
from ..model import Transformer
from ..run_label import analysis_label
from . import io
from .compare import block_boundaries
from .contributions import sublayer_contributions
from .depth_report import depth_score_analysis
from .effects import default_boundaries, local_effects, skip_effects
from .inputs import DatasetInputs, primitive_items
from .intervention_analysis import interventions_analysis
from .lens_analysis import tuned_lens_analysis
from .options import AnalysisOptions
from .similarity import block_similarity


@dataclass
class Context:
    """What an analysis reads: the model, its tokenizer, held-out tokens, options, and where to write."""

    model: Transformer
    tokenizer: Tokenizer
    tokens: torch.Tensor  # [N, T] held-out sequences (empty [0, T] when `datasets` gives every input)
    out: Path
    options: AnalysisOptions = field(default_factory=AnalysisOptions)
    info: dict[str, Any] = field(default_factory=dict)
    cache: dict[Any, Any] = field(default_factory=dict)
    # the papers' datasets from local files (`inputs.DatasetInputs`); None: every analysis reads `tokens`
    datasets: DatasetInputs | None = None

    def boundaries(self, seq_len: int | None = None) -> list[int]:
        seq_len = self.tokens.shape[1] if seq_len is None else seq_len
        return self.options.boundaries or default_boundaries(seq_len, self.options.n_boundaries)

    def rows(self, analysis: str, dataset: str) -> torch.Tensor:
        """Token rows [N, T] of `dataset` for `analysis` (`tokens`, the held-out split, when there are no datasets)."""
        return self.tokens if self.datasets is None else self.datasets.rows(analysis, dataset)

    def inputs_of(self, analysis: str) -> dict[str, Any]:
        """What `analysis` read: each dataset's file and sizes, or the held-out tokens."""
        if analysis == "similarity":  # weights only
            return {}
        if self.datasets is None:
            return {"heldout": {"rows": int(self.tokens.shape[0]), "seq_len": int(self.tokens.shape[1])}}
        return self.datasets.used.get(analysis, {})

    def items(self, n: int):
        key = ("items", n)
        if key not in self.cache:
            o = self.options
            self.cache[key] = primitive_items(o.task, n, o.task_depth, o.shots, o.seed)
        return self.cache[key]

    def skip(
        self, mode: str, component: str = "layer", analysis: str = "depth_score", dataset: str = "gsm8k"
    ) -> dict[str, torch.Tensor]:
        rows = self.rows(analysis, dataset)
        key = ("skip", mode, component, "heldout" if self.datasets is None else dataset, tuple(rows.shape))
        if key not in self.cache:
            self.cache[key] = skip_effects(
                self.model,
                rows,
                mode,
                component,
                self.boundaries(rows.shape[1]),
                self.options.batch_size,
                self.options.progress,
            )
        return self.cache[key]


def _matrix(t: torch.Tensor) -> list[list[float]]:
    return t.tolist()


def analyze_depth_score(ctx: Context) -> dict[str, Any]:
    return depth_score_analysis(ctx)


def analyze_future_effects(ctx: Context) -> dict[str, Any]:
    o = ctx.options
    rows = ctx.rows("future_effects", "gsm8k")  # seed 004 App. B / seed 000 App. J: the GSM8K prompts
    bounds = ctx.boundaries(rows.shape[1])
    matrices = {
        "propagated_future": ctx.skip("future", analysis="future_effects")["propagated"],
        "propagated_current": ctx.skip("current", analysis="future_effects")["propagated"],
        "propagated_current_attn": ctx.skip("current", "attn", analysis="future_effects")["propagated"],
        "local_future": local_effects(ctx.model, rows, "future", bounds, o.batch_size, o.progress),
        "local_current": local_effects(ctx.model, rows, "current", bounds, o.batch_size, o.progress),
    }
    titles = {
        "propagated_future": "skip layer s for tokens <= t: relative change of later layers at tokens > t",
        "propagated_current": "skip layer s: relative change of later layers (all tokens)",
        "propagated_current_attn": "skip attention of layer s: relative change of later layers (all tokens)",
        "local_future": "remove s's contribution from l's input only, tokens <= t; change at tokens > t",
        "local_current": "remove s's contribution from l's input only; change (all tokens)",
    }
    files = ["future_effects.json"]
    marks = block_boundaries(ctx.model.plan, ctx.info.get("depth"))[0]
    for name, matrix in matrices.items():
        io.heatmap(
            _matrix(matrix),
            f"{analysis_label(ctx.info)}: {titles[name]}",
            "target layer l (effective depth, 0-based)",
            "source layer s (0-based)",
            ctx.out / f"{name}.png",
            boundaries=marks,
        )
        files.append(f"{name}.png")
    io.write_json(
        ctx.out / "future_effects.json",
        {
            "boundaries": bounds,
            "aggregation": "max over examples, positions, boundaries",
            "index_base": 0,
            "inputs": ctx.inputs_of("future_effects"),
            "plan": list(ctx.model.plan),
            **{k: _matrix(v) for k, v in matrices.items()},
        },
    )
    peak = {k: float(torch.nan_to_num(v, nan=0.0).max()) for k, v in matrices.items()}
    return {"files": files, "peak": peak}


def analyze_contributions(ctx: Context) -> dict[str, Any]:
    rows = ctx.rows("contributions", "gsm8k")  # seed 004 App. B: relative contributions on the GSM8K prompts
    result = sublayer_contributions(ctx.model, rows, ctx.options.batch_size)
    inputs = ctx.inputs_of("contributions")
    io.write_json(ctx.out / "contributions.json", {"plan": list(ctx.model.plan), "inputs": inputs, **result})
    io.line_panels(
        {
            "relative contribution": {
                "attention ‖a‖/‖h‖": result["attn_relative"],
                "MLP ‖m‖/‖h+a‖": result["mlp_relative"],
                "layer ‖a+m‖/‖h‖": result["layer_relative"],
            },
            "cosine with the residual": {
                "attention cos(a, h)": result["attn_cosine"],
                "MLP cos(m, h+a)": result["mlp_cosine"],
            },
        },
        "layer (effective depth, 0-based)",
        ctx.out / "contributions.png",
        log_y=("relative contribution",),
        label=analysis_label(ctx.info),
    )
    io.line_plot(
        {"‖h_i‖": result["residual_norm"]},
        "residual stream norm",
        "residual index i (h_0 = embeddings)",
        "mean token norm",
        ctx.out / "residual_norm.png",
        label=analysis_label(ctx.info),
    )
    return {
        "files": ["contributions.json", "contributions.png", "residual_norm.png"],
        "per_depth": {
            "attn ‖a‖/‖h‖": result["attn_relative"],
            "attn cos": result["attn_cosine"],
            "layer ‖a+m‖/‖h‖": result["layer_relative"],
            "‖h_in‖": result["residual_norm"][:-1],
        },
    }


def analyze_similarity(ctx: Context) -> dict[str, Any]:
    block = ctx.options.block_size or int((ctx.info.get("depth") or {}).get("block_size") or 1)
    block = min(block, ctx.model.depth)
    result = block_similarity(ctx.model, block)
    io.write_json(ctx.out / "similarity.json", {"plan": list(ctx.model.plan), **result})
    axis = "layer (effective depth, 0-based)" if block == 1 else f"block of {block} layers (0-based)"
    marks = block_boundaries(ctx.model.plan, ctx.info.get("depth"))[0]
    io.heatmap(
        result["similarity"],
        f"{analysis_label(ctx.info)}: FFN weight cosine similarity, blocks of {block}",
        axis,
        axis,
        ctx.out / "similarity.png",
        vmin=-1.0,
        vmax=1.0,
        cmap="RdBu_r",
        boundaries=[b // block for b in marks if b % block == 0],
    )
    sim = torch.tensor(result["similarity"])
    off = sim[~torch.eye(len(sim), dtype=torch.bool)]
    return {
        "files": ["similarity.json", "similarity.png"],
        "block_size": block,
        "mean_off_diagonal": float(off.mean()) if len(off) else float("nan"),
        "max_off_diagonal": float(off.max()) if len(off) else float("nan"),
    }


def analyze_tuned_lens(ctx: Context) -> dict[str, Any]:
    return tuned_lens_analysis(ctx)


def analyze_interventions(ctx: Context) -> dict[str, Any]:
    return interventions_analysis(ctx)


ANALYSES: dict[str, Callable[[Context], dict[str, Any]]] = {
    "depth_score": analyze_depth_score,
    "tuned_lens": analyze_tuned_lens,
    "interventions": analyze_interventions,
    "future_effects": analyze_future_effects,
    "contributions": analyze_contributions,
    "similarity": analyze_similarity,
}


def parse_analyses(spec: str | Sequence[str]) -> list[str]:
    """`all` or a comma-separated subset of `ANALYSES`, in the suite's order."""
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if names == ["all"]:
        return list(ANALYSES)
    unknown = [n for n in names if n not in ANALYSES]
    if unknown or not names:
        raise ConfigError(
            f"--analyses={spec!r} is not allowed: give 'all' or a comma-separated subset of {', '.join(ANALYSES)}"
        )
    return [n for n in ANALYSES if n in names]


def run_analyses(ctx: Context, names: Sequence[str]) -> dict[str, Any]:
    """Run `names` in order, write `summary.json` and `index.md`, return the summary."""
    ctx.out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {
        "info": ctx.info,
        "plan": list(ctx.model.plan),
        "n_unique": ctx.model.n_unique,
        "data": (
            {"n_examples": ctx.tokens.shape[0], "seq_len": ctx.tokens.shape[1]}
            if ctx.datasets is None  # else rows per dataset (see "inputs")
            else {"datasets": "files", "n_examples": ctx.datasets.n_examples, "seq_len": ctx.datasets.seq_len}
        ),
        "options": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(ctx.options).items()},
        "analyses": {},
        "seconds": {},
    }
    was_training = ctx.model.training
    ctx.model.eval()
    try:
        for name in names:
            start = time.perf_counter()
            summary["analyses"][name] = ANALYSES[name](ctx)
            summary["seconds"][name] = round(time.perf_counter() - start, 2)
    finally:
        ctx.model.train(was_training)
    summary["inputs"] = {name: ctx.inputs_of(name) for name in names}
    io.write_json(ctx.out / "summary.json", summary)
    io.write_text(ctx.out / "index.md", index_page(summary))
    return summary


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _describe_input(dataset: str, used: Any) -> str:
    if not isinstance(used, dict):
        return f"{dataset}: {used}"
    if "path" in used:
        size = f"{used['rows']} rows" if "rows" in used else f"{used.get('examples')} items"
        return f"{dataset} `{used['path']}` ({used['from']}, {size})"
    return f"{dataset}: {used.get('rows')} sequences × {used.get('seq_len')} tokens"


def inputs_lines(summary: dict[str, Any]) -> list[str]:
    """One line per analysis naming the files it read (and the default they came from), or the held-out split."""
    lines = [
        f"- inputs of {name}: " + "; ".join(_describe_input(d, u) for d, u in used.items())
        for name, used in summary.get("inputs", {}).items()
        if used
    ]
    data = summary["data"]
    return lines or [f"- held-out data: {data['n_examples']} sequences × {data['seq_len']} tokens"]


def index_page(summary: dict[str, Any]) -> str:
    """Markdown: the model, the key numbers, a per-depth table and every figure."""
    info, analyses, plan = summary["info"], summary["analyses"], summary["plan"]
    lines = [
        "# Depth analysis",
        "",
        f"- model: `{info.get('source', '?')}` (step {info.get('global_step', '?')}), "
        f"{summary['n_unique']} unique layers, effective depth {len(plan)}, plan `{' '.join(map(str, plan))}`",
        *inputs_lines(summary),
        "- seconds per analysis: " + ", ".join(f"{k} {v}" for k, v in summary["seconds"].items()),
        "",
    ]
    if "depth_score" in analyses:
        d = analyses["depth_score"]
        lines += [
            f"**Depth score** (expected layer index, 0-based) on {d.get('dataset', 'the held-out split')}: "
            f"**{_fmt(d['depth_score'])}** (normalised by L-1: {_fmt(d['depth_score_normalized'])})",
            "",
        ]
        if len(d.get("by_dataset", {})) > 1:
            lines += ["Per dataset: " + ", ".join(f"{k} {_fmt(v)}" for k, v in d["by_dataset"].items()), ""]
    if "tuned_lens" in analyses and analyses["tuned_lens"].get("final_accuracy") is not None:
        lines += [
            f"**Final-layer accuracy** on the early-exit task: {_fmt(analyses['tuned_lens']['final_accuracy'])}",
            "",
        ]
    if "similarity" in analyses:
        s = analyses["similarity"]
        lines += [
            f"**FFN weight similarity** (blocks of {s['block_size']}): mean off-diagonal "
            f"{_fmt(s['mean_off_diagonal'])}, max {_fmt(s['max_off_diagonal'])}",
            "",
        ]
    columns: dict[str, list[float]] = {}
    for name in ("depth_score", "tuned_lens", "contributions"):
        columns.update(analyses.get(name, {}).get("per_depth", {}))
    if columns:
        lines += [
            "## Per effective depth",
            "",
            "| depth | layer | " + " | ".join(columns) + " |",
            "|---|---|" + "---|" * len(columns),
        ]
        for i, layer in enumerate(plan):
            cells = [_fmt(col[i]) if i < len(col) else "–" for col in columns.values()]
            lines.append(f"| {i} | {layer} | " + " | ".join(cells) + " |")
        lines += ["", "(tuned-lens columns: exit after this depth; `‖h_in‖`: residual entering this depth)", ""]
    if "interventions" in analyses:
        iv = analyses["interventions"]
        base = ", ".join(f"{k} {_fmt(v)}" for k, v in iv["base"].items())
        lines += [
            "## Interventions",
            "",
            f"Unmodified plan: {base}.",
            "",
            "| intervention | mean loss Δ | max Δ (start) | min Δ (start) |",
            "|---|---|---|---|",
        ]
        for key, row in iv["table"].items():
            lines.append(
                f"| {key} | {_fmt(row['mean_delta'])} | {_fmt(row['max_delta'])} ({row['at']}) | "
                f"{_fmt(row['best_delta'])} ({row['best_at']}) |"
            )
        lines.append("")
    if "future_effects" in analyses:
        peak = analyses["future_effects"]["peak"]
        lines += [
            "## Future effects",
            "",
            "Peak relative change: " + ", ".join(f"{k} {_fmt(v)}" for k, v in peak.items()),
            "",
        ]
    lines += ["## Figures", ""]
    for name, result in analyses.items():
        for f in result["files"]:
            if f.endswith(".png"):
                lines += [f"### {name}: {f}", "", f"![{f}]({f})", ""]
    lines += [
        "## Data files",
        "",
        *[f"- [{f}]({f})" for r in analyses.values() for f in r["files"] if not f.endswith(".png")],
        "- [summary.json](summary.json)",
        "",
    ]
    return "\n".join(lines)
