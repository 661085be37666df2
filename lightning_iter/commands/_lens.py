"""`analyze`'s tuned-lens flags: the recipe (the tuned-lens library's defaults) and `--lens FILE` to reuse one."""

from __future__ import annotations

from typing import Any

from jsonargparse import ArgumentParser


def add_lens_arguments(parser: ArgumentParser, defaults: Any) -> None:
    """`--lens_steps`, `--lens_tokens_per_step`, ... (defaults from `AnalysisOptions`) and `--lens`."""
    flags = (
        ("lens_steps", int, "optimizer steps (library default 250)"),
        ("lens_tokens_per_step", int, "tokens per step, by gradient accumulation (library default 2^18)"),
        ("lens_lr_scale", float, "SGD lr = scale x (1 - momentum) (library default 1.0)"),
        ("lens_momentum", float, "Nesterov momentum (library default 0.9)"),
        ("lens_weight_decay", float, "weight decay towards the identity (library default 1e-3)"),
        ("lens_warmup_steps", int, "linear warm-up steps, then linear decay to 0 (library default 0 for SGD)"),
        ("lens_clip", float, "gradient-norm clip (library default 1.0)"),
        ("lens_eval_prompts", int, "GSM8K prompts for KL and top-5 overlap (seed 004 Fig. 1B: 20)"),
    )
    for name, kind, text in flags:
        parser.add_argument(f"--{name}", type=kind, default=getattr(defaults, name), help=f"tuned lens: {text}")
    parser.add_argument(
        "--lens",
        "--tuned_lens_path",
        dest="tuned_lens_path",
        type=str | None,
        default=None,
        help="reuse a lens (tuned_lens.safetensors of an earlier analyze) instead of training one",
    )
