"""Arguments shared by the inference commands (`eval`, `generate`, `analyze`, `export`)."""

from __future__ import annotations

from typing import Any

from jsonargparse import ArgumentParser

from ..loading import LoadedModel, load_model


def add_model_arguments(parser: ArgumentParser, ckpt_required: bool = True) -> None:
    """`--ckpt_path`, `--repeat`, `--device`, `--dtype`: which model to load and how to run it."""
    parser.add_argument(
        "--ckpt_path",
        type=str if ckpt_required else str | None,
        required=ckpt_required,
        help="checkpoint written by `lightning_iter fit` (or a registered source such as hf:DIR)",
    )
    parser.add_argument(
        "--repeat",
        type=str | None,
        default=None,
        help="repeat plan positions START..END-1 EXTRA more times, e.g. 8:12x2 (no weights copied)",
    )
    parser.add_argument("--device", type=str, default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument(
        "--dtype", type=str | None, default=None, help="float32, bfloat16 or float16 (default: as saved)"
    )


def load_from_arguments(cfg: Any) -> LoadedModel:
    """Load the model named by the parsed `add_model_arguments` options."""
    return load_model(cfg.ckpt_path, repeat=cfg.repeat, device=cfg.device, dtype=cfg.dtype)
