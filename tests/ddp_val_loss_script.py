"""Run by test_module.py as `python ddp_val_loss_script.py OUT_DIR DEVICES`: validates one fixed model on
`DEVICES` CPU processes (Lightning's DDP launcher starts the other ranks) and saves each rank's logged val/loss."""

import sys
from pathlib import Path

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.helpers import small_data, small_lm  # noqa: E402


def main(out: Path, devices: int) -> None:
    L.seed_everything(0)
    lm = small_lm({"name": "baseline"}, n_layers=2)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=devices,
        strategy="ddp" if devices > 1 else "auto",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.validate(lm, small_data(batch_size=2, val_size=8))
    loss = trainer.callback_metrics["val/loss"].item()
    torch.save({"loss": loss, "world": trainer.world_size}, out / f"devices{devices}_rank{trainer.global_rank}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
