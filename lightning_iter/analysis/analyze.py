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
from . import io
from .choices import choice_accuracy
from .contributions import sublayer_contributions
from .effects import default_boundaries, depth_score, local_effects, skip_effects
from .inputs import primitive_items
from .interventions import DEFAULT_SIZES, OPERATIONS, block_interventions
from .similarity import block_similarity
from .tuned_lens import TunedLens, lens_metrics, train_tuned_lens


@dataclass
class AnalysisOptions:
    """Sizes of the work; the defaults run every analysis of a tiny model on a CPU in seconds."""

    batch_size: int = 8
    boundaries: list[int] | None = None  # future-setting boundaries t (default: n_boundaries spread evenly)
    n_boundaries: int = 4
    sizes: Sequence[int] = DEFAULT_SIZES
    operations: Sequence[str] = OPERATIONS
    repeat_extra: int = 1
    lens_steps: int = 200
    lens_lr: float = 1e-3
    lens_batch_tokens: int = 256
    tuned_lens_path: str | None = None
    task: str = "assign_math"
    task_depth: int = 0
    shots: int = 5
    n_items: int = 32  # early-exit accuracy items
    intervention_items: int = 0  # primitive items scored under every intervention plan (0: loss only)
    block_size: int | None = None  # weight-similarity blocks (default: the growth block size, else 1)
    seed: int = 0
    progress: bool = True


@dataclass
class Context:
    """What an analysis reads: the model, its tokenizer, held-out tokens, options, and where to write."""

    model: Transformer
    tokenizer: Tokenizer
    tokens: torch.Tensor  # [N, T] held-out sequences
    out: Path
    options: AnalysisOptions = field(default_factory=AnalysisOptions)
    info: dict[str, Any] = field(default_factory=dict)
    cache: dict[Any, Any] = field(default_factory=dict)

    def boundaries(self) -> list[int]:
        return self.options.boundaries or default_boundaries(self.tokens.shape[1], self.options.n_boundaries)

    def items(self, n: int):
        key = ("items", n)
        if key not in self.cache:
            o = self.options
            self.cache[key] = primitive_items(o.task, n, o.task_depth, o.shots, o.seed)
        return self.cache[key]

    def skip(self, mode: str, component: str = "layer") -> dict[str, torch.Tensor]:
        key = ("skip", mode, component)
        if key not in self.cache:
            self.cache[key] = skip_effects(
                self.model,
                self.tokens,
                mode,
                component,
                self.boundaries(),
                self.options.batch_size,
                self.options.progress,
            )
        return self.cache[key]


def _matrix(t: torch.Tensor) -> list[list[float]]:
    return t.tolist()


def analyze_depth_score(ctx: Context) -> dict[str, Any]:
    result = {**depth_score(ctx.skip("future")["dout"]), "boundaries": ctx.boundaries(), "plan": list(ctx.model.plan)}
    io.write_json(ctx.out / "depth_score.json", result)
    io.line_plot(
        {"normalised mean_dout": result["weights"]},
        f"depth score {result['depth_score']:.2f} (expected layer index, 0-based)",
        "effective depth",
        "share of output effect",
        ctx.out / "depth_score.png",
    )
    return {
        "files": ["depth_score.json", "depth_score.png"],
        "depth_score": result["depth_score"],
        "depth_score_normalized": result["depth_score_normalized"],
        "per_depth": {"depth score weight": result["weights"]},
    }


def analyze_future_effects(ctx: Context) -> dict[str, Any]:
    o = ctx.options
    matrices = {
        "propagated_future": ctx.skip("future")["propagated"],
        "propagated_current": ctx.skip("current")["propagated"],
        "propagated_current_attn": ctx.skip("current", "attn")["propagated"],
        "local_future": local_effects(ctx.model, ctx.tokens, "future", ctx.boundaries(), o.batch_size, o.progress),
        "local_current": local_effects(ctx.model, ctx.tokens, "current", ctx.boundaries(), o.batch_size, o.progress),
    }
    titles = {
        "propagated_future": "skip layer s for tokens <= t: relative change of later layers at tokens > t",
        "propagated_current": "skip layer s: relative change of later layers (all tokens)",
        "propagated_current_attn": "skip attention of layer s: relative change of later layers (all tokens)",
        "local_future": "remove s's contribution from l's input only, tokens <= t; change at tokens > t",
        "local_current": "remove s's contribution from l's input only; change (all tokens)",
    }
    files = ["future_effects.json"]
    for name, matrix in matrices.items():
        io.heatmap(
            _matrix(matrix), titles[name], "target layer l (effective depth)", "source layer s", ctx.out / f"{name}.png"
        )
        files.append(f"{name}.png")
    io.write_json(
        ctx.out / "future_effects.json",
        {
            "boundaries": ctx.boundaries(),
            "aggregation": "max over examples, positions, boundaries",
            "plan": list(ctx.model.plan),
            **{k: _matrix(v) for k, v in matrices.items()},
        },
    )
    peak = {k: float(torch.nan_to_num(v, nan=0.0).max()) for k, v in matrices.items()}
    return {"files": files, "peak": peak}


def analyze_contributions(ctx: Context) -> dict[str, Any]:
    result = sublayer_contributions(ctx.model, ctx.tokens, ctx.options.batch_size)
    io.write_json(ctx.out / "contributions.json", {"plan": list(ctx.model.plan), **result})
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
        "effective depth",
        ctx.out / "contributions.png",
        log_y=("relative contribution",),
    )
    io.line_plot(
        {"‖h_i‖": result["residual_norm"]},
        "residual stream norm",
        "residual index i (h_0 = embeddings)",
        "mean token norm",
        ctx.out / "residual_norm.png",
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
    io.heatmap(
        result["similarity"],
        f"FFN weight cosine similarity, blocks of {block}",
        "block",
        "block",
        ctx.out / "similarity.png",
        vmin=-1.0,
        vmax=1.0,
        cmap="RdBu_r",
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
    o = ctx.options
    half = max(1, len(ctx.tokens) // 2)
    train, test = (ctx.tokens[:half], ctx.tokens[half:]) if len(ctx.tokens) > 1 else (ctx.tokens, ctx.tokens)
    history: list[float] = []
    if o.tuned_lens_path:
        lens = TunedLens.load(o.tuned_lens_path, ctx.model)
        lens_path = str(o.tuned_lens_path)
    else:
        lens, history = train_tuned_lens(
            ctx.model, train, o.lens_steps, o.lens_lr, o.lens_batch_tokens, o.batch_size, o.seed, o.progress
        )
        lens_path = str(lens.save(ctx.out / "tuned_lens.safetensors"))
    metrics = lens_metrics(ctx.model, lens, test, o.batch_size)
    items = ctx.items(o.n_items) if o.n_items > 0 else []
    early = {}
    if items:
        depths = list(range(1, ctx.model.depth + 1))
        early = choice_accuracy(
            ctx.model,
            ctx.tokenizer,
            items,
            depths,
            readout=lambda i, h: ctx.model.unembed(lens(i, h).to(h.dtype)),
            batch_size=o.batch_size,
            progress=o.progress,
        )
    accuracy = [early[d] for d in sorted(early)]
    result = {
        "plan": list(ctx.model.plan),
        "lens_path": lens_path,
        "train_examples": len(train),
        "eval_examples": len(test),
        "steps": 0 if o.tuned_lens_path else o.lens_steps,
        "loss_history": history,
        **metrics,
        "early_exit_task": f"{o.task}@{o.task_depth}",
        "early_exit_items": len(items),
        "early_exit_accuracy": accuracy,
    }
    io.write_json(ctx.out / "tuned_lens.json", result)
    x = list(range(1, ctx.model.depth + 1))
    io.line_plot(
        {"tuned lens": metrics["kl_tuned"], "logit lens": metrics["kl_logit"]},
        "KL(final || early exit)",
        "exit after effective depth",
        "KL (nats)",
        ctx.out / "tuned_lens_kl.png",
        x,
    )
    io.line_plot(
        {"tuned lens": metrics["top5_tuned"], "logit lens": metrics["top5_logit"]},
        "top-5 overlap with the final prediction",
        "exit after effective depth",
        "overlap",
        ctx.out / "tuned_lens_top5.png",
        x,
    )
    files = ["tuned_lens.json", "tuned_lens_kl.png", "tuned_lens_top5.png"]
    if not o.tuned_lens_path:
        files.append("tuned_lens.safetensors")
    if accuracy:
        io.line_plot(
            {f"{o.task}@{o.task_depth}": accuracy},
            f"tuned-lens early-exit accuracy ({len(items)} items)",
            "exit after effective depth",
            "accuracy",
            ctx.out / "tuned_lens_accuracy.png",
            x,
        )
        files.append("tuned_lens_accuracy.png")
    per_depth = {"KL tuned": metrics["kl_tuned"], "top-5 tuned": metrics["top5_tuned"]}
    if accuracy:
        per_depth["early-exit acc"] = accuracy
    return {"files": files, "per_depth": per_depth, "final_accuracy": accuracy[-1] if accuracy else None}


def analyze_interventions(ctx: Context) -> dict[str, Any]:
    o = ctx.options
    accuracy: Callable[[], float] | None = None
    if o.intervention_items > 0:
        items = ctx.items(o.intervention_items)

        def score() -> float:  # under whichever plan is active when it is called
            return choice_accuracy(ctx.model, ctx.tokenizer, items, batch_size=o.batch_size)[ctx.model.depth]

        accuracy = score

    result = block_interventions(
        ctx.model, ctx.tokens, o.sizes, o.operations, o.repeat_extra, accuracy, o.batch_size, o.progress
    )
    if accuracy is not None:
        result["task"] = f"{o.task}@{o.task_depth}"
        result["items"] = o.intervention_items
    io.write_json(ctx.out / "interventions.json", result)
    depth = ctx.model.depth
    files = ["interventions.json", "interventions_loss.png"]
    strips = {
        op: {k: [None if e is None else e["loss_delta"] for e in row] for k, row in by_size.items()}
        for op, by_size in result["results"].items()
    }
    io.heat_strips(
        strips,
        f"held-out loss change (base {result['base']['loss']:.3f})",
        "loss delta",
        ctx.out / "interventions_loss.png",
        depth,
        symlog=True,
    )
    if accuracy is not None:
        acc = {
            op: {k: [None if e is None else e["accuracy"] for e in row] for k, row in by_size.items()}
            for op, by_size in result["results"].items()
        }
        io.heat_strips(
            acc,
            f"{result['task']} accuracy (base {result['base']['accuracy']:.2f})",
            "accuracy",
            ctx.out / "interventions_accuracy.png",
            depth,
            cmap="viridis",
        )
        files.append("interventions_accuracy.png")
    table = {}
    for op, by_size in result["results"].items():
        for k, row in by_size.items():
            deltas = [(e["loss_delta"], s) for s, e in enumerate(row) if e is not None]
            if deltas:
                worst = max(deltas)
                table[f"{op} len={k}"] = {
                    "mean_delta": sum(d for d, _ in deltas) / len(deltas),
                    "max_delta": worst[0],
                    "at": worst[1],
                    "best_delta": min(deltas)[0],
                    "best_at": min(deltas)[1],
                }
    return {"files": files, "base": result["base"], "table": table}


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
        "data": {"n_examples": ctx.tokens.shape[0], "seq_len": ctx.tokens.shape[1]},
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
    io.write_json(ctx.out / "summary.json", summary)
    io.write_text(ctx.out / "index.md", index_page(summary))
    return summary


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def index_page(summary: dict[str, Any]) -> str:
    """Markdown: the model, the key numbers, a per-depth table and every figure."""
    info, analyses, plan = summary["info"], summary["analyses"], summary["plan"]
    lines = [
        "# Depth analysis",
        "",
        f"- model: `{info.get('source', '?')}` (step {info.get('global_step', '?')}), "
        f"{summary['n_unique']} unique layers, effective depth {len(plan)}, plan `{' '.join(map(str, plan))}`",
        f"- held-out data: {summary['data']['n_examples']} sequences × {summary['data']['seq_len']} tokens",
        "- seconds per analysis: " + ", ".join(f"{k} {v}" for k, v in summary["seconds"].items()),
        "",
    ]
    if "depth_score" in analyses:
        d = analyses["depth_score"]
        lines += [
            f"**Depth score** (expected layer index, 0-based): **{_fmt(d['depth_score'])}** "
            f"(normalised by L-1: {_fmt(d['depth_score_normalized'])})",
            "",
        ]
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
