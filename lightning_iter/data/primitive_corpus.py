"""The embedded default corpus: an endless, seeded stream of reasoning-primitive text, packed into sequences,
and its LightningDataModule (`PrimitivesDataModule`).

Sequence i is a pure function of (seed, split, i): resuming at any step re-creates exactly the
sequences an uninterrupted run would have seen, with no loader state to save.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info

from ..errors import check_int
from .primitives import training_document
from .tokenizer import ByteTokenizer


def packed_sequence(index: int, seq_len: int, seed: int, split: str, tokenizer: ByteTokenizer) -> torch.Tensor:
    """`seq_len + 1` tokens of documents separated by EOS, generated from the rng of (split, seed, index)."""
    rng = random.Random(f"{split}:{seed}:{index}")
    ids: list[int] = []
    while len(ids) < seq_len + 1:
        ids.extend(tokenizer.encode(training_document(rng), eos=True))
    return torch.tensor(ids[: seq_len + 1], dtype=torch.long)


class PrimitiveStream(IterableDataset):
    """Training sequences for one rank, from local batch `start_batch` on; workers take whole batches in turn."""

    def __init__(
        self, seq_len: int, batch_size: int, seed: int = 0, start_batch: int = 0, rank: int = 0, world_size: int = 1
    ) -> None:
        super().__init__()
        self.seq_len, self.batch_size, self.seed = seq_len, batch_size, seed
        self.start_batch, self.rank, self.world_size = start_batch, rank, world_size
        self.tokenizer = ByteTokenizer()

    def global_index(self, local: int) -> int:
        """Rank r's local sample j is global sample j·world_size + r: ranks never share a sample."""
        return local * self.world_size + self.rank

    def __iter__(self) -> Iterator[torch.Tensor]:
        info = get_worker_info()
        worker, n_workers = (0, 1) if info is None else (info.id, info.num_workers)
        batch = self.start_batch + worker
        while True:
            for local in range(batch * self.batch_size, (batch + 1) * self.batch_size):
                yield packed_sequence(self.global_index(local), self.seq_len, self.seed, "train", self.tokenizer)
            batch += n_workers


class PrimitiveHoldout(Dataset):
    """A fixed validation set drawn from a separate rng namespace, so it never overlaps the training stream."""

    def __init__(self, seq_len: int, size: int, seed: int = 0) -> None:
        self.seq_len, self.size, self.seed = seq_len, size, seed
        self.tokenizer = ByteTokenizer()

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> torch.Tensor:
        if not 0 <= index < self.size:
            raise IndexError(index)
        return packed_sequence(index, self.seq_len, self.seed, "val", self.tokenizer)


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
        for field, value, minimum in (
            ("seq_len", seq_len, 1),
            ("batch_size", batch_size, 1),
            ("val_size", val_size, 1),
            ("num_workers", num_workers, 0),
        ):
            check_int(f"data.{field}", value, minimum)
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
            stream,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            collate_fn=_split_inputs_targets,
            persistent_workers=False,
        )

    def val_dataloader(self) -> DataLoader:
        holdout = PrimitiveHoldout(self.seq_len, self.val_size, self.seed)
        return DataLoader(holdout, batch_size=self.batch_size, num_workers=0, collate_fn=_split_inputs_targets)
