"""Interventions are plans: skip, swap, reverse and repeat of contiguous blocks at any start."""

import pytest

from lightning_iter.analysis.interventions import block_interventions, intervene
from lightning_iter.errors import ConfigError
from tests.analysis.builders import small_model

PLAN = (0, 1, 2, 3, 4, 5)


def test_plans_of_each_operation():
    assert intervene(PLAN, "skip", 2, 2) == (0, 1, 4, 5)
    assert intervene(PLAN, "swap", 1, 2) == (0, 3, 4, 1, 2, 5)
    assert intervene(PLAN, "reverse", 2, 4) == (0, 1, 5, 4, 3, 2)
    assert intervene(PLAN, "repeat", 3, 2, extra=2) == (0, 1, 2, 3, 4, 3, 4, 3, 4, 5)
    assert intervene((0, 1, 0, 1), "skip", 1, 2) == (0, 1)  # positions of a looped plan, not unique layers


def test_blocks_that_do_not_fit_are_left_out():
    assert intervene(PLAN, "swap", 3, 2) is None
    assert intervene(PLAN, "skip", 0, 6) is None  # nothing would be left
    assert intervene(PLAN, "reverse", 0, 1) is None  # reversing one layer is the identity
    assert intervene(PLAN, "repeat", 5, 2) is None


def test_grid_has_one_entry_per_start_and_the_plan_is_restored(tokens):
    model = small_model(n_layers=4)
    calls = []
    result = block_interventions(model, tokens, sizes=[1, 2], accuracy=lambda: calls.append(model.plan) or 0.5)
    assert model.plan == (0, 1, 2, 3)
    skip = result["results"]["skip"]
    assert [e is None for e in skip[2]] == [False, False, False, True]
    assert skip[2][1]["plan"] == [0, 3]
    assert result["base"]["accuracy"] == 0.5 and (0, 2, 3) in calls
    with pytest.raises(ConfigError, match="operations"):
        block_interventions(model, tokens, operations=["shuffle"])
