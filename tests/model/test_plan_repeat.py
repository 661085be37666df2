"""Block repetition as a plan: `repeat_block`, `parse_repeat`, `apply_repeat`."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightning_iter.errors import PlanError
from lightning_iter.model.plan import apply_repeat, parse_repeat, repeat_block


def test_repeat_block_inserts_copies_after_the_block():
    assert repeat_block((0, 1, 2, 3), 1, 3, 2) == (0, 1, 2, 1, 2, 1, 2, 3)
    assert repeat_block((0, 1, 0, 1), 0, 2, 0) == (0, 1, 0, 1)


@given(st.integers(1, 12), st.data())
def test_repeat_block_length_and_content(depth, data):
    plan = tuple(range(depth))
    start = data.draw(st.integers(0, depth - 1))
    end = data.draw(st.integers(start + 1, depth))
    extra = data.draw(st.integers(0, 4))
    out = repeat_block(plan, start, end, extra)
    assert len(out) == depth + extra * (end - start)
    assert out[:end] == plan[:end] and out[len(out) - (depth - end) :] == plan[end:]
    for r in range(extra):
        assert out[end + r * (end - start) : end + (r + 1) * (end - start)] == plan[start:end]


def test_parse_repeat_forms_and_errors():
    assert parse_repeat("8:12x2") == (8, 12, 2)
    assert parse_repeat("2:4") == (2, 4, 1)
    assert apply_repeat((0, 1, 2), None) == (0, 1, 2)
    with pytest.raises(PlanError, match="START:ENDxEXTRA"):
        parse_repeat("8-12")
    with pytest.raises(PlanError, match="within 0:4"):
        apply_repeat((0, 1, 2, 3), "2:6x1")
    with pytest.raises(PlanError, match="extra"):
        repeat_block((0, 1), 0, 1, -1)


@given(st.integers(1, 64), st.data())
def test_repeat_block_is_bounded_by_max_depth(depth, data):
    """Every repetition either stays within MAX_DEPTH or is one PlanError naming the limit (no minutes-long plans)."""
    from lightning_iter.model.plan import MAX_DEPTH

    plan = tuple(range(depth))
    start = data.draw(st.integers(0, depth - 1))
    end = data.draw(st.integers(start + 1, depth))
    extra = data.draw(st.integers(0, 3 * MAX_DEPTH))
    target = depth + extra * (end - start)
    if target <= MAX_DEPTH:
        assert len(repeat_block(plan, start, end, extra)) == target
    else:
        with pytest.raises(PlanError, match=rf"effective depth {target}, above the maximum {MAX_DEPTH}"):
            repeat_block(plan, start, end, extra)
    with pytest.raises(PlanError, match=r"^--repeat=0:1x5000: repeat extra=5000 is not allowed"):
        apply_repeat(plan, "0:1x5000")
