"""A checkpoint's name for figure titles and tables: its run and step, not the file name `last.ckpt`."""

from __future__ import annotations

import re
from pathlib import PurePath

GENERIC_FILES = re.compile(r"^(last(-v\d+)?|epoch=\d+-step=\d+|step=?\d+|model|checkpoint)$")
"""File stems that say nothing about the run (Lightning's defaults)."""
LOGGER_FOLDERS = {"checkpoints", "tensorboard", "csv", "lightning_logs", "mlruns", "wandb", "runs", "."}


def checkpoint_label(ckpt_path: str, step: int | None = None, repeat: str | None = None) -> str:
    """`run/version step N` for a run's checkpoint, the file stem for a named one, `hf:NAME` for a Hugging Face
    directory; `repeat` (an inference-time `--repeat`) is appended, since it changes the model."""
    if ckpt_path.startswith("hf:"):
        label = "hf:" + (PurePath(ckpt_path[3:]).name or ckpt_path[3:])
    else:
        path = PurePath(ckpt_path)
        if GENERIC_FILES.match(path.stem):
            run = [part for part in path.parent.parts if part not in LOGGER_FOLDERS and part != path.anchor]
            keep = 2 if run and re.fullmatch(r"version_\d+", run[-1]) else 1  # Lightning's run/version_N
            label = "/".join(run[-keep:]) or path.stem
            if step is None and (found := re.search(r"step=?(\d+)", path.stem)):
                step = int(found.group(1))
        else:
            label = path.stem
    if step is not None:
        label += f" step {step}"
    return label + (f" --repeat {repeat}" if repeat else "")


def analysis_label(info: dict) -> str:
    """The label of an analysed model from `analysis.Context.info` (`source`, `global_step`, `repeat`)."""
    source = str(info.get("source") or "model")
    if source.startswith("training step"):  # the DepthAnalysis callback: no checkpoint file yet
        return source
    return checkpoint_label(source, info.get("global_step"), info.get("repeat"))
