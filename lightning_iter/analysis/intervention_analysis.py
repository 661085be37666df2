"""Benchmarked interventions as the papers run them (seed 004 App. B, Figs. 3, 9-11; seed 000 App. G): skip,
swap, reverse (and repeat) of blocks of 1, 2, 4, 8 plan positions, scored by greedy top-1 accuracy on
Lambada (the last word, lm-eval's `lambada_openai`) and Variable Assignment Math (`assign_math`), next to
the loss change on the GSM8K prompts.

Greedy accuracy: a continuation counts as correct when the argmax at every one of its positions is its next
token (lm-eval's `is_greedy`); the primitive's answer is followed by EOS, as every solved query ends in
training, so " 6" is not taken for " 62". `--intervention_scoring choice` scores the primitive by multiple
choice instead (our evaluation's rule, `lightning_iter eval`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..data.tokenizer import Tokenizer
from ..errors import check_choice
from ..eval.scoring import encode_pair, score_requests
from ..run_label import analysis_label
from . import io
from .choices import choice_accuracy, greedy_accuracy
from .datasets import TextExample
from .inputs import Item
from .interventions import block_interventions
from .options import SCORINGS

Context = Any  # `analyze.Context` (not imported: analyze imports this module)

INDEX_BASE = 0
Request = tuple[list[int], list[int]]


@dataclass
class Benchmark:
    """A named set of (context, continuation) requests scored by greedy top-1 under the model's current plan."""

    name: str
    requests: list[Request]
    pad_id: int = 0
    batch_size: int = 8

    def __call__(self, model: nn.Module) -> float:
        scores = score_requests(model, self.requests, batch_size=self.batch_size, pad_id=self.pad_id)
        return sum(s.greedy for s in scores) / len(scores)


def lambada_requests(tokenizer: Tokenizer, examples: Sequence[TextExample]) -> list[Request]:
    """Context = the passage without its last word, continuation = " " + that word (lm-eval `lambada_openai`)."""
    return [encode_pair(tokenizer, e.prompt, " " + str(e.answer)) for e in examples]


def primitive_requests(tokenizer: Tokenizer, items: Sequence[Item]) -> list[Request]:
    """Context = the few-shot prompt, continuation = " " + the correct value + EOS."""
    rows = []
    for item in items:
        context, continuation = encode_pair(tokenizer, item.prompt, " " + item.choices[item.answer])
        rows.append((context, continuation + [tokenizer.eos_id]))
    return rows


def benchmarks(ctx: Context) -> tuple[dict[str, Callable[[nn.Module], float]], dict[str, str]]:
    """The accuracy measures of the interventions, and a note per benchmark that was left out (and why)."""
    o = ctx.options
    check_choice("--intervention_scoring", o.intervention_scoring, SCORINGS)
    pad = ctx.tokenizer.pad_id if ctx.tokenizer.pad_id is not None else 0
    measures: dict[str, Callable[[nn.Module], float]] = {}
    skipped: dict[str, str] = {}
    if o.intervention_items <= 0:
        return measures, {"all": "--intervention_items 0: loss only"}
    if ctx.datasets is not None:
        examples = ctx.datasets.examples("interventions", "lambada", o.intervention_items)
        measures["lambada"] = Benchmark("lambada", lambada_requests(ctx.tokenizer, examples), pad, o.batch_size)
    else:
        skipped["lambada"] = "not measured: the held-out split has no Lambada passages (give --data or --lambada)"
    items = ctx.items(o.intervention_items)
    task = f"{o.task}@{o.task_depth}"
    if o.intervention_scoring == "greedy":
        measures[task] = Benchmark(task, primitive_requests(ctx.tokenizer, items), pad, o.batch_size)
    else:
        measures[task] = lambda model: choice_accuracy(model, ctx.tokenizer, items, batch_size=o.batch_size)[
            model.depth
        ]
    return measures, skipped


def accuracy_figure(runs: Sequence[tuple[str, dict[str, Any], Sequence[int]]], op: str, path: Any) -> Any:
    """Seed 004 Figs. 9-11: a row per benchmark, a column per model (`(label, interventions.json, block
    boundaries)`), accuracy against the block's first layer, one line per block size, the unmodified model's
    accuracy dashed, each block's first layer a grey line."""
    names = list(dict.fromkeys(n for _, result, _ in runs for n in result["base"].get("accuracy", {})))
    width = 6.5 if len(runs) == 1 else 4.5 * len(runs)
    fig, axes = io.plt.subplots(len(names), len(runs), figsize=(width, 2.6 * len(names)), squeeze=False, sharex="col")
    for col, (label, result, boundaries) in enumerate(runs):
        base = result["base"].get("accuracy", {})
        for row, name in enumerate(names):
            ax = axes[row, col]
            if name not in base:
                ax.axis("off")
                continue
            for k, entries in result["results"].get(op, {}).items():
                points = [(s, 100 * e["accuracy"][name]) for s, e in enumerate(entries) if e is not None]
                if points:
                    ax.plot(*zip(*points), marker="o", ms=3, label=f"block of {k}")
            ax.axhline(100 * base[name], color="black", ls="--", lw=1, label="unmodified")
            for b in boundaries:
                ax.axvline(b, color="grey", lw=0.8, alpha=0.6)
            how = "greedy top-1" if name == "lambada" or result.get("scoring") != "choice" else "multiple choice"
            ax.set(title=f"{label + ': ' if label else ''}{op} on {name} ({how})", ylim=(-2, 102))
            ax.set_ylabel("accuracy (%)" if col == 0 else None)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, ncol=3)
        axes[-1, col].set_xlabel(f"first layer of the block (effective depth, {INDEX_BASE}-based)")
        axes[-1, col].set_xticks(range(len(result["base_plan"])))
    fig.tight_layout()
    return io.save_figure(fig, path)


def _table(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    table = {}
    for op, by_size in result["results"].items():
        for k, row in by_size.items():
            deltas = [(e["loss_delta"], s) for s, e in enumerate(row) if e is not None]
            if not deltas:
                continue
            worst = max(deltas)
            entry: dict[str, Any] = {
                "mean_delta": sum(d for d, _ in deltas) / len(deltas),
                "max_delta": worst[0],
                "at": worst[1],
                "best_delta": min(deltas)[0],
                "best_at": min(deltas)[1],
            }
            for name in result["base"].get("accuracy", {}):
                lowest = min((e["accuracy"][name], s) for s, e in enumerate(row) if e is not None)
                entry[f"min_accuracy[{name}]"] = lowest[0]
                entry[f"min_accuracy_at[{name}]"] = lowest[1]
            table[f"{op} len={k}"] = entry
    return table


def interventions_analysis(ctx: Context) -> dict[str, Any]:
    """`interventions.json`, the loss heat-strips and one accuracy figure per operation (when accuracy is on)."""
    o = ctx.options
    rows = ctx.rows("interventions", "gsm8k")  # App. B: the loss change on the fixed GSM8K prompts
    measures, skipped = benchmarks(ctx)

    def accuracy() -> dict[str, float]:  # under whichever plan is active when it is called
        return {name: measure(ctx.model) for name, measure in measures.items()}

    result = block_interventions(
        ctx.model, rows, o.sizes, o.operations, o.repeat_extra, accuracy if measures else None, o.batch_size, o.progress
    )
    result.update(
        index_base=INDEX_BASE,
        scoring=o.intervention_scoring,
        items=o.intervention_items,
        not_measured=skipped,
        inputs=ctx.inputs_of("interventions"),
    )
    io.write_json(ctx.out / "interventions.json", result)
    files = ["interventions.json", "interventions_loss.png"]
    strips = {
        op: {k: [None if e is None else e["loss_delta"] for e in row] for k, row in by_size.items()}
        for op, by_size in result["results"].items()
    }
    io.heat_strips(
        strips,
        f"{analysis_label(ctx.info)}: loss change (base {result['base']['loss']:.3f})",
        "loss delta",
        ctx.out / "interventions_loss.png",
        ctx.model.depth,
        symlog=True,
    )
    if measures:
        for op in result["results"]:
            accuracy_figure([(analysis_label(ctx.info), result, ())], op, ctx.out / f"interventions_{op}.png")
            files.append(f"interventions_{op}.png")
    base = {
        "loss": result["base"]["loss"],
        **{f"{k} accuracy": v for k, v in result["base"].get("accuracy", {}).items()},
    }
    return {"files": files, "base": base, "table": _table(result)}


def early_exit_primitive(ctx: Context, items: Sequence[Item], readout: Callable) -> dict[int, float]:
    """Early-exit accuracy per depth on the primitive, scored as the interventions score it (App. B: early exit is
    a benchmarked intervention; greedy top-1 by default, multiple choice with `--intervention_scoring choice`)."""
    o, model = ctx.options, ctx.model
    depths = list(range(1, model.depth + 1))
    if check_choice("--intervention_scoring", o.intervention_scoring, SCORINGS) == "choice":
        return choice_accuracy(model, ctx.tokenizer, items, depths, readout, o.batch_size, o.progress)
    pad = ctx.tokenizer.pad_id if ctx.tokenizer.pad_id is not None else 0
    requests = primitive_requests(ctx.tokenizer, items)
    return greedy_accuracy(model, requests, depths, readout, o.batch_size, pad, o.progress)


def early_exit_lambada(ctx: Context, lens: nn.Module) -> dict[str, Any]:
    """Seed 004 Fig. 8: greedy Lambada accuracy read through the tuned lens after every depth, raw and divided
    by the final depth's; empty without datasets (`--inputs heldout`) or with `--n_items 0`."""
    from .tuned_lens import normalised_accuracy

    o, model = ctx.options, ctx.model
    if ctx.datasets is None or o.n_items <= 0:
        return {}
    examples = ctx.datasets.examples("tuned_lens", "lambada", o.n_items)
    pad = ctx.tokenizer.pad_id if ctx.tokenizer.pad_id is not None else 0
    early = greedy_accuracy(
        model,
        lambada_requests(ctx.tokenizer, examples),
        list(range(1, model.depth + 1)),
        readout=lambda i, h: model.unembed(lens(i, h).to(h.dtype)),
        batch_size=o.batch_size,
        pad_id=pad,
        progress=o.progress,
    )
    accuracy = [early[d] for d in sorted(early)]
    return {
        "early_exit_lambada": accuracy,
        "early_exit_lambada_normalised": normalised_accuracy(accuracy),
        "early_exit_lambada_items": len(examples),
    }
