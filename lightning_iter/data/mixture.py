"""Deterministic corpus mixtures: which source and which block every global sample index reads.

Sample g's source is drawn from the mixture of the phase its training step is in (the main mix, then
e.g. a cooldown mix with 20 % math, seed 000 §4 / Table 2); within a source, samples take the
source's blocks in a shuffled order, epoch after epoch. Everything is a pure function of
(seed, g), so resuming at a step needs no loader state (litData #775) and a mixture switch at a step
lands exactly on it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, check_float

BLOCK = 4096  # source draws are made BLOCK samples at a time from rng (seed, block)


@dataclass(frozen=True)
class Phase:
    """From training step `start_step` on, draw sources with probabilities `weights` (one per source)."""

    start_step: int
    weights: tuple[float, ...]


def normalize_weights(weights: Mapping[str, float], names: Sequence[str], field: str) -> tuple[float, ...]:
    """Weights per source name, in `names` order, summing to 1; unknown names and negative values are errors."""
    unknown = sorted(set(weights) - set(names))
    if unknown:
        raise ConfigError(f"{field} names unknown sources {unknown}: the sources are {list(names)}")
    values = []
    for name in names:
        value = weights.get(name, 0.0)
        values.append(check_float(f"{field}.{name}", value, 0, allowed="weights must be finite numbers >= 0"))
    total = sum(values)
    if total <= 0:
        raise ConfigError(f"{field}={dict(weights)!r} is not allowed: at least one weight must be positive")
    return tuple(v / total for v in values)


def _coprime_affine(rng: np.random.Generator, n: int) -> tuple[int, int]:
    """(a, b) with gcd(a, n) = 1, so that x -> (a·x + b) mod n permutes range(n)."""
    if n <= 1:
        return 1, 0
    while True:
        a = int(rng.integers(1, n))
        if math.gcd(a, n) == 1:
            return a, int(rng.integers(0, n))


class Mixture:
    """Maps global sample index -> (source, block) for sources of `sizes` blocks and the given phases.

    Args:
        sizes: training blocks of each source.
        phases: mixture phases, the first starting at step 0.
        samples_per_step: global samples one optimizer step consumes (batch · world size · accumulation).
        group: blocks shuffled as a unit (a litdata chunk), so reads stay local to a chunk.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        phases: Sequence[Phase],
        samples_per_step: int,
        seed: int = 0,
        shuffle: bool = True,
        group: int = 1,
    ) -> None:
        if not phases or phases[0].start_step != 0:
            raise ConfigError("the first mixture phase must start at step 0")
        if any(b.start_step <= a.start_step for a, b in zip(phases, phases[1:])):
            raise ConfigError(f"mixture phases must start at increasing steps, got {[p.start_step for p in phases]}")
        for phase in phases:
            for size, weight in zip(sizes, phase.weights, strict=True):
                if weight > 0 and size < 1:
                    raise ConfigError(
                        "a source with positive weight has no training blocks: prepare more data or lower data.val_size"
                    )
        self.sizes = [int(s) for s in sizes]
        self.phases = list(phases)
        self.cumulative = [np.cumsum(p.weights) for p in phases]
        # rounding in the cumulative sum must never select a zero-weight source at the end
        self.last = [max(i for i, w in enumerate(p.weights) if w > 0) for p in phases]
        self.samples_per_step = samples_per_step
        self.seed, self.shuffle, self.group = seed, shuffle, max(1, group)

    # ---- source of each sample -------------------------------------------------------------------
    def phase_of_sample(self, g: np.ndarray) -> np.ndarray:
        steps = g // self.samples_per_step
        starts = np.array([p.start_step for p in self.phases])
        return np.searchsorted(starts, steps, side="right") - 1

    def sources(self, start: int, stop: int) -> np.ndarray:
        """Source index of every global sample in [start, stop)."""
        out = np.empty(stop - start, dtype=np.int64)
        position = start
        while position < stop:
            block, offset = divmod(position, BLOCK)
            take = min(BLOCK - offset, stop - position)
            u = np.random.default_rng([self.seed, 0x5EED, block]).random(BLOCK)[offset : offset + take]
            g = np.arange(position, position + take)
            phases = self.phase_of_sample(g)
            chosen = np.empty(take, dtype=np.int64)
            for p in np.unique(phases):
                mask = phases == p
                chosen[mask] = np.minimum(np.searchsorted(self.cumulative[p], u[mask], side="right"), self.last[p])
            out[position - start : position - start + take] = chosen
            position += take
        return out

    def counts_before(self, g: int) -> np.ndarray:
        """How many samples before global index g read each source (their within-source ordinals)."""
        counts = np.zeros(len(self.sizes), dtype=np.int64)
        for start in range(0, g, BLOCK * 16):
            counts += np.bincount(self.sources(start, min(g, start + BLOCK * 16)), minlength=len(self.sizes))
        return counts

    # ---- block of each sample --------------------------------------------------------------------
    def block(self, source: int, ordinal: int) -> int:
        """The block the `ordinal`-th sample of `source` reads: a fresh shuffled order each epoch."""
        n = self.sizes[source]
        epoch, position = divmod(ordinal, n)
        if not self.shuffle:
            return position
        group = min(self.group, n)
        full = n // group
        if position >= full * group:  # the last partial group keeps its order
            return position
        a, b, c, d = self._permutation(source, epoch, full, group)
        q, o = divmod(position, group)
        return ((a * q + b) % full) * group + (c * o + d + q) % group

    @functools.lru_cache(maxsize=64)  # noqa: B019 - bounded; a Mixture lives as long as its data module
    def _permutation(self, source: int, epoch: int, full: int, group: int) -> tuple[int, int, int, int]:
        rng = np.random.default_rng([self.seed, source, epoch])
        return (*_coprime_affine(rng, full), *_coprime_affine(rng, group))

    def assignments(self, start: int) -> Iterator[tuple[int, int, int]]:
        """(global index, source, block) for every sample from `start` on, forever."""
        ordinals = self.counts_before(start)
        position = start
        while True:
            chunk = self.sources(position, position + BLOCK)
            for offset, source in enumerate(chunk.tolist()):
                yield position + offset, source, self.block(source, int(ordinals[source]))
                ordinals[source] += 1
            position += BLOCK
