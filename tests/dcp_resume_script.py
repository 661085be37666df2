"""Run by test_distributed_checkpoint.py as `python dcp_resume_script.py OUT_DIR full|resume [CKPT] [BREAK]`.

Two gloo CPU processes under Lightning's ModelParallelStrategy (FSDP2, data_parallel_size=2) train a small LIDAS
model that grows at steps 1 and 3; `full` runs 8 steps with a distributed (DCP) checkpoint directory every 2
steps; `resume` restarts from CKPT (a fresh model at the initial depth) to step 8. Each rank saves its
(global step, unique layers, loss) rows; rank 0 also the full (gathered) parameters at the end. BREAK=noresize
restores without giving the model the checkpoint's depth first (by hand: the resume then fails, CheckpointError).
"""

from __future__ import annotations

import sys
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.strategies import ModelParallelStrategy
from torch.distributed.tensor import DTensor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lightning_iter.callbacks.checkpointing import install_checkpointing  # noqa: E402
from lightning_iter.distributed_checkpoint import ShardedCheckpointStrategy  # noqa: E402
from tests.helpers import Recorder, small_data, small_lm, trainer  # noqa: E402

GROW = {"name": "lidas", "block_size": 1, "initial_depth": 1, "horizon": 6}
MAX_STEPS = 8


def full(tensor: torch.Tensor) -> torch.Tensor:
    """The whole tensor on every rank (an all-gather for a DTensor shard)."""
    return (tensor.full_tensor() if isinstance(tensor, DTensor) else tensor).detach().clone()


def main(out: Path, mode: str, ckpt: str | None, broken: str | None) -> None:
    L.seed_everything(0 if mode == "full" else 123)  # resumed: everything that matters comes from the checkpoint
    if broken == "noresize":
        ShardedCheckpointStrategy.load_checkpoint = ModelParallelStrategy.load_checkpoint  # the shards load as is
    recorder = Recorder()
    callbacks: list[L.Callback] = [recorder]
    if mode == "full":
        saver = ModelCheckpoint(dirpath=out / "ckpts", filename="{step}", every_n_train_steps=2, save_top_k=-1)
        saver.save_last = True  # `fit` makes it a link (RunCheckpoint)
        callbacks.append(saver)
    run = trainer(
        devices=2,
        strategy=ModelParallelStrategy(data_parallel_size=2, tensor_parallel_size=1),
        max_steps=MAX_STEPS,
        callbacks=callbacks,
        enable_checkpointing=mode == "full",
    )
    install_checkpointing(run)  # what `lightning_iter fit` does: the atomic, depth-restoring strategy
    lm = small_lm(GROW, n_layers=3)
    run.fit(lm, small_data(), ckpt_path=ckpt)
    params = {k: full(v) for k, v in lm.model.state_dict().items()}
    if run.global_rank == 0:
        torch.save(params, out / f"{mode}_params.pt")
    torch.save(recorder.rows, out / f"{mode}_rank{run.global_rank}.pt")


if __name__ == "__main__":
    out_dir, run_mode, *rest = sys.argv[1:]
    main(Path(out_dir), run_mode, rest[0] if rest and rest[0] != "-" else None, rest[1] if len(rest) > 1 else None)
