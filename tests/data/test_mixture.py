"""Mixture: a pure function of (seed, global sample index) -> (source, block); shuffles are permutations."""

import itertools

import numpy as np
import pytest

from lightning_iter.data.mixture import Mixture, Phase, normalize_weights
from lightning_iter.errors import ConfigError


@pytest.mark.parametrize("n, group", [(97, 8), (64, 8), (5, 8), (100, 1)])
def test_each_epoch_reads_every_block_once_in_a_new_order(n, group):
    mixture = Mixture([n], [Phase(0, (1.0,))], samples_per_step=4, seed=3, group=group)
    epochs = [[mixture.block(0, e * n + i) for i in range(n)] for e in range(3)]
    for order in epochs:
        assert sorted(order) == list(range(n))
    if n > 8:
        assert epochs[0] != epochs[1] and epochs[0] != list(range(n))
    assert Mixture([n], [Phase(0, (1.0,))], 4, seed=3, shuffle=False).block(0, n + 2) == 2


def test_groups_stay_together():
    mixture = Mixture([64], [Phase(0, (1.0,))], samples_per_step=4, seed=1, group=8)
    order = [mixture.block(0, i) for i in range(64)]
    for start in range(0, 64, 8):
        assert len({b // 8 for b in order[start : start + 8]}) == 1  # 8 consecutive reads share one chunk


def test_assignments_resume_at_any_index():
    mixture = Mixture([50, 30, 20], [Phase(0, (0.5, 0.3, 0.2)), Phase(7, (0.1, 0.1, 0.8))], samples_per_step=16)
    full = list(itertools.islice(mixture.assignments(0), 10_000))
    for start in (1, 111, 4096, 5000, 8191):
        assert list(itertools.islice(mixture.assignments(start), 300)) == full[start : start + 300]
    assert np.array_equal(mixture.counts_before(5000), np.bincount([s for _, s, _ in full[:5000]], minlength=3))


def test_trailing_zero_weight_source_is_never_drawn():
    mixture = Mixture([10, 10, 10], [Phase(0, normalize_weights({"a": 0.7, "b": 0.3}, ["a", "b", "c"], "w"))], 4)
    assert set(mixture.sources(0, 50_000).tolist()) == {0, 1}


def test_bad_mixtures():
    with pytest.raises(ConfigError, match="at least one weight must be positive"):
        normalize_weights({"a": 0}, ["a"], "data.weights")
    with pytest.raises(ConfigError, match="no training blocks"):
        Mixture([0, 5], [Phase(0, (0.5, 0.5))], 4)
    with pytest.raises(ConfigError, match="increasing steps"):
        Mixture([5], [Phase(0, (1.0,)), Phase(0, (1.0,))], 4)
