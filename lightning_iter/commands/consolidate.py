"""`lightning_iter consolidate CKPT_DIR --out FILE.ckpt`: a distributed (DCP) checkpoint as one checkpoint file.

Under ModelParallelStrategy (FSDP2) `fit` writes each checkpoint as a directory of shards (distributed_checkpoint.py).
`eval`, `generate`, `analyze` and `export` read such a directory directly (gathered in memory); this command writes
the same gathered checkpoint once, as a single file they read faster and that single-device or DDP `fit
--ckpt_path` resumes from (the optimizer state is re-keyed by parameter position, as `Optimizer.state_dict()`).
"""

from __future__ import annotations

from pathlib import Path

from jsonargparse import ArgumentParser


def main(argv: list[str]) -> None:
    """Gather the distributed checkpoint directory CKPT_DIR into the single checkpoint file --out."""
    parser = ArgumentParser(prog="lightning_iter consolidate", description=main.__doc__)
    parser.add_argument("ckpt_dir", type=str, help="a checkpoint directory `fit` wrote under ModelParallelStrategy")
    parser.add_argument("--out", type=str, required=True, help="the checkpoint file to write (e.g. model.ckpt)")
    parser.add_argument("--overwrite", type=bool, default=False, help="replace an existing --out checkpoint file")
    cfg = parser.parse_args(argv)

    from ..checkpoint import checkpoint_problem
    from ..distributed_checkpoint import consolidate
    from ..errors import CheckpointError, ConfigError

    source, out = Path(cfg.ckpt_dir), Path(cfg.out)
    if not source.is_dir():
        what = "does not exist" if not source.exists() else "is a file, not a directory"
        raise CheckpointError(
            f"ckpt_dir={source} {what}: give a distributed checkpoint directory (a file checkpoint needs no "
            "consolidation)"
        )
    problem = checkpoint_problem(source)
    if problem is not None:
        raise CheckpointError(f"ckpt_dir={source} cannot be consolidated: it is {problem}")
    if out.is_dir():
        raise ConfigError(f"--out={out} is a directory: give the checkpoint file to write, e.g. {out / 'model.ckpt'}")
    if out.exists() and not cfg.overwrite:
        raise ConfigError(f"--out={out} exists: pass --overwrite to replace it, or choose another file")
    if out.exists() and checkpoint_problem(out) is not None:
        raise ConfigError(
            f"--out={out} exists and is not a lightning_iter checkpoint: it is not replaced (choose another file)"
        )
    written = consolidate(source, out)
    print(f"[lightning_iter] consolidated {source} -> {written.resolve()} ({written.stat().st_size:,} bytes)")
