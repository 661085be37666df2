"""The embedded default corpus: an endless, seeded stream of reasoning-primitive text, packed into sequences.

Sequence i is a pure function of (seed, split, i): resuming at any step re-creates exactly the
sequences an uninterrupted run would have seen, with no loader state to save.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

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
