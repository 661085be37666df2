"""The `tuned_lens` analysis: train (or reuse) a lens, then KL, top-5 overlap and early-exit accuracy per depth.

Inputs follow seed 004 §4.1, App. B / seed 000 App. J: the lens trains on FineWeb-Edu text and KL / top-5
overlap are measured on 20 GSM8K prompts (`ctx.datasets`); with `--inputs heldout` (no datasets) the run's
held-out rows are split in half (train, evaluate). Early-exit accuracy is reported raw and normalised by the
final depth's accuracy (the papers plot the normalised one: seed 004 Fig. 1C, seed 000 Fig. 5C).
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import check_int
from ..run_label import analysis_label
from . import io
from .datasets import encode_texts
from .intervention_analysis import early_exit_lambada, early_exit_primitive
from .tuned_lens import LensRecipe, TunedLens, lens_info, lens_metrics, normalised_accuracy, train_tuned_lens


def recipe_from_options(options: Any) -> LensRecipe:
    """The `LensRecipe` named by the `lens_*` analysis options."""
    return LensRecipe(
        steps=options.lens_steps,
        tokens_per_step=options.lens_tokens_per_step,
        lr_scale=options.lens_lr_scale,
        momentum=options.lens_momentum,
        weight_decay=options.lens_weight_decay,
        warmup_steps=options.lens_warmup_steps,
        clip=options.lens_clip,
    )


def lens_data(ctx: Any, recipe: LensRecipe | None) -> tuple[torch.Tensor, list[torch.Tensor] | torch.Tensor, Any]:
    """(training rows [N, T], evaluation rows, what was read): the papers' files, else the held-out rows halved."""
    o = ctx.options
    if ctx.datasets is None:
        tokens = ctx.tokens
        half = max(1, len(tokens) // 2)
        train, test = (tokens[:half], tokens[half:]) if len(tokens) > 1 else (tokens, tokens)
        return train, test, {"train": f"held-out rows 0..{half - 1}", "eval": f"held-out rows {half}.."}
    check_int("--lens_eval_prompts", o.lens_eval_prompts, 1)
    test = [
        ids[-int(ctx.model.config.max_seq_len) :]
        for ids in encode_texts(
            ctx.tokenizer, (e.prompt for e in ctx.datasets.examples("tuned_lens", "gsm8k", o.lens_eval_prompts))
        )
        if len(ids)
    ]
    train = None
    if recipe is not None:  # enough rows that no row is used twice, if the file holds them
        seq_len = ctx.datasets.seq_len
        needed = recipe.steps * recipe.rows_per_step(seq_len)
        train = ctx.datasets.rows("tuned_lens", "fineweb_edu", needed, seq_len)
    return train, test, ctx.inputs_of("tuned_lens")


def tuned_lens_analysis(ctx: Any) -> dict[str, Any]:
    """Write tuned_lens.json, the KL / top-5 / accuracy figures and (when trained) the lens with its recipe.

    `ctx` is an `analyze.Context` (not imported: analyze imports this module)."""
    o, model = ctx.options, ctx.model
    recipe = None if o.tuned_lens_path else recipe_from_options(o)
    train, test, sources = lens_data(ctx, recipe)
    log: dict[str, Any] = {}
    if recipe is None:
        lens = TunedLens.load(o.tuned_lens_path, model)
        lens_path = str(o.tuned_lens_path)
    else:
        lens, log = train_tuned_lens(model, train, recipe, o.batch_size, o.seed, o.progress)
        lens_path = str(lens.save(ctx.out / "tuned_lens.safetensors", lens_info(model, recipe, log, sources)))
    metrics = lens_metrics(model, lens, test, o.batch_size)
    items = ctx.items(o.n_items) if o.n_items > 0 else []
    early: dict[int, float] = {}
    if items:
        early = early_exit_primitive(ctx, items, lambda i, h: model.unembed(lens(i, h).to(h.dtype)))
    accuracy = [early[d] for d in sorted(early)]
    relative = normalised_accuracy(accuracy)
    lambada = early_exit_lambada(ctx, lens)  # seed 004 Fig. 8: Lambada next to the primitive (with datasets)
    result = {
        "plan": list(model.plan),
        "lens_path": lens_path,
        "data": sources,
        "train_examples": 0 if train is None else len(train),
        "eval_examples": len(test),
        "steps": 0 if o.tuned_lens_path else o.lens_steps,
        **log,
        **metrics,
        "early_exit_task": f"{o.task}@{o.task_depth}",
        "early_exit_items": len(items),
        "early_exit_scoring": o.intervention_scoring,
        "early_exit_accuracy": accuracy,
        "early_exit_accuracy_normalised": relative,
        **lambada,
    }
    io.write_json(ctx.out / "tuned_lens.json", result)
    x = list(range(model.depth))  # the exit after layer d (0-based, as every figure and table): the readout of h_{d+1}
    io.line_plot(
        {"tuned lens": metrics["kl_tuned"], "logit lens": metrics["kl_logit"]},
        "KL(final || early exit)",
        "exit after layer (effective depth, 0-based)",
        "KL (nats)",
        ctx.out / "tuned_lens_kl.png",
        x,
        label=analysis_label(ctx.info),
    )
    io.line_plot(
        {"tuned lens": metrics["top5_tuned"], "logit lens": metrics["top5_logit"]},
        "top-5 overlap with the final prediction",
        "exit after layer (effective depth, 0-based)",
        "overlap",
        ctx.out / "tuned_lens_top5.png",
        x,
        label=analysis_label(ctx.info),
    )
    files = ["tuned_lens.json", "tuned_lens_kl.png", "tuned_lens_top5.png"]
    if not o.tuned_lens_path:
        files += ["tuned_lens.safetensors", "tuned_lens.recipe.json"]
    if accuracy:
        name = f"{o.task}@{o.task_depth}"
        io.line_panels(
            {
                f"early-exit accuracy / final ({len(items)} items)": {
                    name: relative,
                    **({"lambada": lambada["early_exit_lambada_normalised"]} if lambada else {}),
                },
                "early-exit accuracy (%)": {
                    name: [None if a is None else 100 * a for a in accuracy],
                    **({"lambada": [100 * a for a in lambada["early_exit_lambada"]]} if lambada else {}),
                },
            },
            "exit after layer (effective depth, 0-based)",
            ctx.out / "tuned_lens_accuracy.png",
            x=x,
            label=f"{analysis_label(ctx.info)}: early exit on {name}",
        )
        files.append("tuned_lens_accuracy.png")
    per_depth: dict[str, list[float | None]] = {"KL tuned": metrics["kl_tuned"], "top-5 tuned": metrics["top5_tuned"]}
    if accuracy:
        per_depth["early-exit acc"] = accuracy
        per_depth["early-exit acc / final"] = relative
    return {"files": files, "per_depth": per_depth, "final_accuracy": accuracy[-1] if accuracy else None}
