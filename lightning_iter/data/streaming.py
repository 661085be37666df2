"""Streaming data module over `lightning_iter prepare` outputs: litdata token chunks, weighted mixtures, cooldown mix.

Blocks of seq_len+1 tokens are read with litdata (`StreamingDataset` + `TokensLoader`, local dirs or
object-store URLs); *which* block each step reads comes from `Mixture`, a pure function of the global
sample index. Resume therefore starts from `trainer.global_step` like `PrimitivesDataModule`, with no
loader state to lose (litData #775), and the cooldown mixture starts exactly at its step.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info

from ..errors import ConfigError, check_int
from .manifest import MANIFEST, read_manifest, tokenizer_fingerprint
from .mixture import Mixture, Phase, normalize_weights
from .primitive_corpus import _split_inputs_targets
from .startup_checks import check_sources
from .tokenizer import ByteTokenizer, Tokenizer, tokenizer_from_spec


def load_tokenizer(value: str | None) -> Tokenizer:
    """`bytes`, a tokenizer.json path / directory, or a prepared dataset directory (its recorded tokenizer)."""
    from .hf_tokenizer import HFTokenizer

    if value in (None, "bytes"):
        return ByteTokenizer()
    path = Path(value)
    if (path / MANIFEST).is_file():
        return tokenizer_from_spec(read_manifest(path)["tokenizer"])
    return HFTokenizer.from_file(path)


def open_blocks(path: str, block_size: int, cache_dir: str | None = None, max_cache_size: str = "50GB") -> Any:
    """A litdata `StreamingDataset` whose item i is token block i (block_size tokens)."""
    from litdata import StreamingDataset
    from litdata.streaming.item_loader import TokensLoader

    from .object_store import allow_plain_http_endpoint

    allow_plain_http_endpoint()  # a local S3 API (MinIO, moto) over http: object_store.py
    kwargs: dict[str, Any] = {"item_loader": TokensLoader(block_size=block_size), "max_cache_size": max_cache_size}
    if cache_dir is not None:
        kwargs["cache_dir"] = cache_dir
    return StreamingDataset(path, **kwargs)


def _as_tensor(block: Any) -> torch.Tensor:
    return torch.from_numpy(np.asarray(block).astype(np.int64)) if not isinstance(block, torch.Tensor) else block.long()


class _Sources:
    """Opens each source's litdata dataset lazily, once per process (DataLoader workers included)."""

    def __init__(self, paths: list[str], block_size: int, cache_dir: str | None, max_cache_size: str) -> None:
        self.paths, self.block_size, self.cache_dir, self.max_cache_size = paths, block_size, cache_dir, max_cache_size
        self._open: dict[int, Any] = {}

    def get(self, source: int) -> Any:
        if source not in self._open:
            self._open[source] = open_blocks(self.paths[source], self.block_size, self.cache_dir, self.max_cache_size)
        return self._open[source]

    def read(self, source: int, block: int) -> torch.Tensor:
        return _as_tensor(self.get(source)[block])

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_open": {}}


class MixtureStream(IterableDataset):
    """Training blocks of one rank from local batch `start_batch` on; workers take whole batches in turn."""

    def __init__(
        self,
        sources: _Sources,
        mixture: Mixture,
        batch_size: int,
        start_batch: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        super().__init__()
        self.sources, self.mixture, self.batch_size = sources, mixture, batch_size
        self.start_batch, self.rank, self.world_size = start_batch, rank, world_size

    def assignments(self) -> Iterator[tuple[int, int, int]]:
        """(global index, source, block) of this rank's and worker's samples, in the order they are yielded."""
        info = get_worker_info()
        worker, n_workers = (0, 1) if info is None else (info.id, info.num_workers)
        per_batch = self.batch_size * self.world_size
        for g, source, block in self.mixture.assignments(self.start_batch * per_batch):
            local, rank = divmod(g, self.world_size)
            if rank == self.rank and (local // self.batch_size - self.start_batch) % n_workers == worker:
                yield g, source, block

    def __iter__(self) -> Iterator[torch.Tensor]:
        for _, source, block in self.assignments():
            yield self.sources.read(source, block)


class Holdout(Dataset):
    """The last `per_source` blocks of every source: never read by the training stream."""

    def __init__(self, sources: _Sources, sizes: list[int], per_source: int) -> None:
        self.sources, self.items = sources, [(s, n + i) for s, n in enumerate(sizes) for i in range(per_source)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.sources.read(*self.items[index])


class StreamingDataModule(L.LightningDataModule):
    """Prepared token datasets mixed by weight, with a held-out split and an optional cooldown mixture.

    Args:
        sources: name -> prepared dataset (local dir or object-store URL), e.g. `{fineweb_edu: /data/fwe}`.
        weights: name -> mixture weight (normalized; default: equal). Sources with weight 0 are only used
            by the cooldown.
        cooldown: `{start_step: N, weights: {...}}`: from optimizer step N on, draw from these weights
            instead (e.g. 20 % math for the last 15 % of training, seed 000 Table 2).
        tokenizer: `bytes`, a tokenizer.json path, or None to use the one recorded by `prepare`.
        seq_len: tokens per training sequence; must equal the `--seq_len` the data was prepared with.
        val_size: blocks held out at the end of every source for validation.
        shuffle: read each source's blocks in a shuffled (chunk-local) order, reshuffled every epoch.
        cache_dir, max_cache_size: litdata's local cache for object-store sources.
    """

    def __init__(
        self,
        sources: dict[str, str],
        weights: dict[str, float] | None = None,
        cooldown: dict[str, Any] | None = None,
        tokenizer: str | None = None,
        seq_len: int = 2048,
        batch_size: int = 8,
        seed: int = 0,
        val_size: int = 8,
        shuffle: bool = True,
        num_workers: int = 0,
        cache_dir: str | None = None,
        max_cache_size: str = "50GB",
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if not isinstance(sources, Mapping) or not sources:
            raise ConfigError(f"data.sources={sources!r} is not allowed: give a mapping name -> prepared dataset path")
        for field, value, minimum in (
            ("seq_len", seq_len, 1),
            ("batch_size", batch_size, 1),
            ("val_size", val_size, 0),
            ("num_workers", num_workers, 0),
        ):
            check_int(f"data.{field}", value, minimum)
        self.names = list(sources)
        self.paths = [str(sources[name]) for name in self.names]
        self.seq_len, self.batch_size, self.seed = seq_len, batch_size, seed
        self.val_size, self.shuffle, self.num_workers = val_size, shuffle, num_workers
        self.phases = [Phase(0, normalize_weights(weights or {n: 1.0 for n in self.names}, self.names, "data.weights"))]
        if cooldown is not None:
            unknown = set(cooldown) - {"start_step", "weights"}
            if unknown or "start_step" not in cooldown or "weights" not in cooldown:
                raise ConfigError(
                    f"data.cooldown={cooldown!r} is not allowed: give {{start_step: N, weights: {{...}}}}"
                )
            step = check_int("data.cooldown.start_step", cooldown["start_step"], 1)
            self.phases.append(Phase(step, normalize_weights(cooldown["weights"], self.names, "data.cooldown.weights")))
        check_sources(self.names, self.paths, tokenizer, seq_len)  # one line naming a missing path and its fix
        self.manifests = [read_manifest(p) for p in self.paths]
        self.tokenizer = self._tokenizer(tokenizer)
        for name, manifest in zip(self.names, self.manifests):
            if manifest is not None and manifest["seq_len"] != seq_len:
                raise ConfigError(
                    f"data.seq_len={seq_len} but source {name!r} was prepared with seq_len="
                    f"{manifest['seq_len']}: use that, or prepare again with --seq_len {seq_len}"
                )
        self._sources = _Sources(self.paths, seq_len + 1, cache_dir, max_cache_size)
        self._sizes: list[int] | None = None

    def _tokenizer(self, value: str | None) -> Tokenizer:
        """The given tokenizer, or the one `prepare` recorded; every local source must agree with it."""
        local = [(n, m) for n, m in zip(self.names, self.manifests) if m is not None]
        if value is None and not local:
            raise ConfigError("data.tokenizer is not set and no source is a local prepared dir: give data.tokenizer")
        tokenizer = load_tokenizer(value) if value is not None else tokenizer_from_spec(local[0][1]["tokenizer"])
        expected = tokenizer_fingerprint(tokenizer)
        for name, manifest in local:
            if manifest["tokenizer_fingerprint"] != expected:
                raise ConfigError(
                    f"data source {name!r} was prepared with another tokenizer than "
                    f"{value or self.names[0]!r}: prepare every source with the same tokenizer"
                )
        return tokenizer

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    # ---- sizes and checks ----------------------------------------------------------------------------
    def sizes(self) -> list[int]:
        """Training blocks per source (total minus the held-out tail)."""
        if self._sizes is None:
            sizes = []
            for index, (name, path) in enumerate(zip(self.names, self.paths)):
                total = len(self._sources.get(index))
                if total <= self.val_size:
                    raise ConfigError(
                        f"data source {name!r} ({path}) has {total} blocks of {self.seq_len + 1} tokens, "
                        f"not more than data.val_size={self.val_size}: prepare more data"
                    )
                sizes.append(total - self.val_size)
            self._sizes = sizes
        return self._sizes

    def setup(self, stage: str) -> None:
        """Fail before training when the model's vocabulary is smaller than the tokenizer's (or the data's ids)."""
        trainer = self.trainer
        module = getattr(trainer, "lightning_module", None) if trainer is not None else None
        config = getattr(getattr(module, "model", None), "config", None)
        model_vocab = getattr(config, "vocab_size", None)
        if model_vocab is not None:
            check_vocab(self.tokenizer.vocab_size, model_vocab, "tokenizer")
            for name, manifest in zip(self.names, self.manifests):
                if manifest is not None:
                    check_vocab(manifest["max_token_id"] + 1, model_vocab, f"data source {name!r}")
        self.sizes()

    def group(self) -> int:
        """Blocks per litdata chunk (the shuffle unit), from the first source."""
        dataset = self._sources.get(0)
        reader = getattr(getattr(dataset, "cache", None), "_reader", None)
        try:
            return int(reader.config._chunks[0]["chunk_size"])
        except (AttributeError, IndexError, KeyError, TypeError):
            return 1

    def mixture(self, samples_per_step: int) -> Mixture:
        sizes = self.sizes()
        self._sources.read(0, 0)  # opens the litdata reader so the chunk layout is known
        return Mixture(sizes, self.phases, samples_per_step, self.seed, self.shuffle, self.group())

    # ---- loaders -------------------------------------------------------------------------------------
    def _position(self) -> tuple[int, int, int, int]:
        """(local batches consumed, accumulation, rank, world size) from the trainer, for resume."""
        trainer = self.trainer
        if trainer is None:
            return 0, 1, 0, 1
        accumulate = trainer.accumulate_grad_batches
        return trainer.global_step * accumulate, accumulate, trainer.global_rank, trainer.world_size

    def train_stream(self) -> MixtureStream:
        start, accumulate, rank, world = self._position()
        mixture = self.mixture(self.batch_size * world * accumulate)
        return MixtureStream(self._sources, mixture, self.batch_size, start, rank, world)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            self.train_stream(),
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            collate_fn=_split_inputs_targets,
            persistent_workers=False,
        )

    def val_dataloader(self) -> DataLoader:
        holdout = Holdout(self._sources, self.sizes(), self.val_size)
        if len(holdout) == 0:
            return []  # type: ignore[return-value]
        return DataLoader(holdout, batch_size=self.batch_size, num_workers=0, collate_fn=_split_inputs_targets)


def check_vocab(needed: int, model_vocab: int, what: str) -> None:
    if needed > model_vocab:
        raise ConfigError(
            f"{what} needs vocab_size {needed} but the model has model.vocab_size={model_vocab}: "
            f"raise model.vocab_size to at least {needed} (or leave it unset to follow the data)"
        )
