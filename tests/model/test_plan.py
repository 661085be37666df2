"""Plan algebra (model/plan.py): every operation is a pure function on tuples with checkable invariants."""

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_iter.errors import PlanError
from lightning_iter.model.plan import (
    LoopSpan,
    apply_repeat,
    find_loop,
    format_plan,
    identity_plan,
    is_identity,
    loop_plan,
    loop_spans,
    parse_plan,
    repeat_block,
    reverse_block,
    skip_block,
    swap_blocks,
    validate_plan,
)

FAST = settings(max_examples=60, deadline=None)
plans = st.lists(st.integers(0, 5), min_size=1, max_size=12).map(tuple)


@st.composite
def plan_and_block(draw, blocks: int = 1):
    """A plan and a block start/size such that `blocks` adjacent blocks fit."""
    plan = draw(st.lists(st.integers(0, 9), min_size=blocks, max_size=14).map(tuple))
    size = draw(st.integers(1, len(plan) // blocks))
    start = draw(st.integers(0, len(plan) - blocks * size))
    return plan, start, size


@FAST
@given(st.integers(1, 20))
def test_identity_plan_is_the_identity(n):
    plan = identity_plan(n)
    assert len(plan) == n and is_identity(plan) and validate_plan(plan, n) == plan
    if n > 1:
        assert not is_identity(swap_blocks(plan, 0, 1))


@FAST
@given(plans)
def test_format_and_parse_are_inverse(plan):
    assert parse_plan(format_plan(plan)) == plan
    assert parse_plan(", ".join(map(str, plan))) == plan


@pytest.mark.parametrize("text", ["", "0 a 1", "0 -1", "1.5"])
def test_parse_plan_rejects_what_is_not_a_plan(text):
    with pytest.raises(PlanError, match="unique-layer indices"):
        parse_plan(text)


@FAST
@given(plans, st.integers(1, 5))
def test_validate_plan_names_the_first_entry_out_of_range(plan, n_unique):
    bad = [i for i, index in enumerate(plan) if index >= n_unique]
    if not bad:
        assert validate_plan(plan, n_unique) == plan
    else:
        with pytest.raises(PlanError, match=rf"plan\[{bad[0]}\]={plan[bad[0]]} is out of range"):
            validate_plan(plan, n_unique)


def test_loop_plan_matches_the_seeds_labels():
    """Seed 000 App. E / DESIGN.md §1: Loop(4×2) and Loop(2-2×2-2)."""
    assert loop_plan(4, 2) == (0, 1, 2, 3, 0, 1, 2, 3)
    assert loop_plan(2, 2, encode=2, decode=2) == (0, 1, 2, 3, 2, 3, 4, 5)
    assert loop_plan(3, 1) == identity_plan(3)


@FAST
@given(st.integers(1, 4), st.integers(1, 5), st.integers(0, 3), st.integers(0, 3))
def test_loop_plan_shape_and_find_loop_recovers_it(layers, repeats, encode, decode):
    plan = loop_plan(layers, repeats, encode, decode)
    assert len(plan) == encode + layers * repeats + decode
    assert sorted(set(plan)) == list(range(encode + layers + decode))  # e + L + d unique layers
    assert plan[:encode] == identity_plan(encode + 1)[:encode]
    expected = LoopSpan(encode, layers, repeats) if repeats > 1 else None
    assert find_loop(plan) == expected


@pytest.mark.parametrize("field, args", [("repeats", (2, 0)), ("layers", (0, 2)), ("encode", (2, 2, -1))])
def test_loop_plan_rejects_bad_counts(field, args):
    with pytest.raises(PlanError, match=f"{field}="):
        loop_plan(*args)


@FAST
@given(plan_and_block(), st.integers(0, 3))
def test_repeat_block_adds_size_times_extra_and_is_found_as_a_loop(block, extra):
    plan, start, size = block
    out = repeat_block(plan, start, start + size, extra)
    assert len(out) == len(plan) + size * extra
    assert Counter(out) == Counter(plan) + Counter(plan[start : start + size] * extra)
    assert apply_repeat(plan, f"{start}:{start + size}x{extra}") == out
    unique = identity_plan(len(plan))
    span = find_loop(repeat_block(unique, start, start + size, extra))
    assert span == (LoopSpan(start, size, extra + 1) if extra else None)


@FAST
@given(plan_and_block())
def test_skip_block_removes_exactly_the_block(block):
    plan, start, size = block
    if size == len(plan):
        with pytest.raises(PlanError, match="remove all"):
            skip_block(plan, start, size)
        return
    out = skip_block(plan, start, size)
    assert len(out) == len(plan) - size
    assert out == plan[:start] + plan[start + size :]
    assert Counter(out) + Counter(plan[start : start + size]) == Counter(plan)


@FAST
@given(plan_and_block(blocks=2))
def test_swap_blocks_is_an_involutive_permutation(block):
    plan, start, size = block
    out = swap_blocks(plan, start, size)
    assert sorted(out) == sorted(plan) and len(out) == len(plan)
    assert out[start : start + size] == plan[start + size : start + 2 * size]
    assert out[start + size : start + 2 * size] == plan[start : start + size]
    assert out[:start] == plan[:start] and out[start + 2 * size :] == plan[start + 2 * size :]
    assert swap_blocks(out, start, size) == plan


@FAST
@given(plan_and_block())
def test_reverse_block_is_an_involutive_permutation(block):
    plan, start, size = block
    out = reverse_block(plan, start, size)
    assert sorted(out) == sorted(plan)
    assert out[start : start + size] == plan[start : start + size][::-1]
    assert out[:start] == plan[:start] and out[start + size :] == plan[start + size :]
    assert reverse_block(out, start, size) == plan


@FAST
@given(plans, st.integers(-2, 14), st.integers(-1, 8))
def test_block_operations_reject_blocks_outside_the_plan(plan, start, size):
    for op, blocks in ((skip_block, 1), (reverse_block, 1), (swap_blocks, 2)):
        if start < 0 or size < 1 or start + blocks * size > len(plan):
            with pytest.raises(PlanError, match="is not allowed"):
                op(plan, start, size)


def _brute_force_best(plan):
    """Reference for find_loop: every (start, size, passes >= 2) that matches, most positions, then shortest."""
    found = []
    for size in range(1, len(plan) + 1):
        for start in range(len(plan)):
            for passes in range(2, len(plan) // size + 1):
                if (
                    start + size * passes <= len(plan)
                    and plan[start : start + size] * passes == plan[start : start + size * passes]
                ):
                    found.append((-size * passes, size, start, passes))
    if not found:
        return None
    _, size, start, passes = min(found)
    return LoopSpan(start, size, passes)


@FAST
@given(st.lists(st.integers(0, 2), min_size=1, max_size=12).map(tuple))
def test_loop_spans_are_maximal_repeats_and_find_loop_takes_the_largest(plan):
    spans = loop_spans(plan)
    for span in spans:
        span.check(plan)
        assert span.passes >= 2
        block = plan[span.start : span.start + span.size]
        assert plan[span.end : span.end + span.size] != block  # cannot extend right
        assert span.start < span.size or plan[span.start - span.size : span.start] != block  # nor left
    assert find_loop(plan) == _brute_force_best(plan)


def test_a_span_that_does_not_repeat_is_rejected():
    with pytest.raises(PlanError, match="is not a repeated block"):
        LoopSpan(0, 2, 2).check((0, 1, 0, 2))
    LoopSpan(1, 1, 3).check((0, 1, 1, 1, 2))
