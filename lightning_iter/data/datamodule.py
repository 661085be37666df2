"""LightningDataModule for the embedded default corpus (reasoning primitives as training text)."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader

from ..errors import ConfigError
from .stream import PrimitiveHoldout, PrimitiveStream
from .tokenizer import ByteTokenizer


def _split_inputs_targets(batch: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    sequences = torch.stack(batch)
    return sequences[:, :-1], sequences[:, 1:]


class PrimitivesDataModule(L.LightningDataModule):
    """Endless seeded training stream + fixed held-out split; resumes exactly from the trainer's global step."""

    def __init__(
        self,
        seq_len: int = 256,
        batch_size: int = 16,
        seed: int = 0,
        val_size: int = 64,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        for field, value, minimum in (("seq_len", seq_len, 1), ("batch_size", batch_size, 1), ("val_size", val_size, 1),
                                      ("num_workers", num_workers, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ConfigError(f"data.{field}={value!r} is not allowed: it must be an integer >= {minimum}")
        self.seq_len, self.batch_size, self.seed = seq_len, batch_size, seed
        self.val_size, self.num_workers = val_size, num_workers
        self.tokenizer = ByteTokenizer()

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def _start_batch(self) -> int:
        """Local batches already consumed: each optimizer step takes `accumulate_grad_batches` of them per rank."""
        trainer = self.trainer
        if trainer is None:
            return 0
        return trainer.global_step * trainer.accumulate_grad_batches

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        stream = PrimitiveStream(self.seq_len, self.batch_size, self.seed, self._start_batch(), rank, world)
        return DataLoader(
            stream, batch_size=self.batch_size, num_workers=self.num_workers, collate_fn=_split_inputs_targets,
            persistent_workers=False,
        )

    def val_dataloader(self) -> DataLoader:
        holdout = PrimitiveHoldout(self.seq_len, self.val_size, self.seed)
        return DataLoader(holdout, batch_size=self.batch_size, num_workers=0, collate_fn=_split_inputs_targets)
