"""Run by test_ddp_growth.py as `python ddp_growth_script.py OUT_DIR`: Lightning's DDP launcher starts rank 1.

Each rank trains a small LIDAS model past two growth steps on its own shard of the data, then saves
its parameters, optimizer state and the steps at which it grew, for the test to compare across ranks.
"""

import sys
from pathlib import Path

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.helpers import Recorder, small_data, small_lm  # noqa: E402


def main(out: Path) -> None:
    L.seed_everything(0)
    recorder = Recorder()
    lm = small_lm({"name": "lidas", "block_size": 1, "initial_depth": 1, "horizon": 6}, n_layers=3)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        max_steps=6,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[recorder],
        gradient_clip_val=1.0,
    )
    trainer.fit(lm, small_data())
    optimizer = trainer.optimizers[0]
    torch.save(
        {
            "params": {k: v.detach().clone() for k, v in lm.model.state_dict().items()},
            "optimizer": optimizer.state_dict(),
            "rows": recorder.rows,
            "rank": trainer.global_rank,
            "world": trainer.world_size,
            "first_batch": small_data().train_dataloader().dataset.global_index(0),
        },
        out / f"rank{trainer.global_rank}.pt",
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
