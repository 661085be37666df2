"""The validators: accepted values come back unchanged; anything else raises one error naming field, value, range."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_iter.errors import (
    ConfigError,
    PlanError,
    check_choice,
    check_float,
    check_int,
    check_ints,
    find_input_error,
)

FAST = settings(max_examples=40, deadline=None)
bounds = st.tuples(st.integers(-1000, 1000), st.integers(0, 1000)).map(lambda t: (t[0], t[0] + t[1]))
not_ints = st.one_of(st.booleans(), st.floats(allow_nan=True), st.text(max_size=3), st.none(), st.lists(st.integers()))
not_numbers = st.one_of(st.booleans(), st.text(max_size=3), st.none(), st.sampled_from([math.nan, math.inf, -math.inf]))


def _names(err: pytest.ExceptionInfo, field: str, value: object, *parts: str) -> None:
    message = str(err.value)
    assert message.startswith(f"{field}={value!r} is not allowed: "), message
    for part in parts:
        assert part in message, (part, message)


@FAST
@given(bounds, st.data())
def test_check_int_returns_accepted_values_unchanged(lo_hi, data):
    lo, hi = lo_hi
    value = data.draw(st.integers(lo, hi))
    assert check_int("x", value, lo, hi) is value
    assert check_int("x", value) is value
    assert check_int("x", value, lo) is value
    assert check_int("x", value, maximum=hi) is value


@FAST
@given(bounds, st.integers(1, 10**30))
def test_check_int_rejects_out_of_range_naming_field_value_and_range(lo_hi, offset):
    lo, hi = lo_hi
    for value in (lo - offset, hi + offset):
        with pytest.raises(ConfigError) as err:
            check_int("data.seq_len", value, lo, hi)
        _names(err, "data.seq_len", value, f"an integer in {lo}..{hi}")
    with pytest.raises(ConfigError) as err:
        check_int("depth.block_size", lo - offset, lo)
    _names(err, "depth.block_size", lo - offset, f"an integer >= {lo}")
    with pytest.raises(ConfigError) as err:
        check_int("--n_items", hi + offset, maximum=hi)
    _names(err, "--n_items", hi + offset, f"an integer <= {hi}")


@FAST
@given(not_ints)
def test_check_int_rejects_bools_floats_and_other_types(value):
    with pytest.raises(ConfigError) as err:
        check_int("--n_items", value)
    _names(err, "--n_items", value, "it must be an integer")


@FAST
@given(st.integers(-5, 5), st.sampled_from([ConfigError, PlanError]))
def test_the_error_class_is_the_one_asked_for(value, error):
    with pytest.raises(error):
        check_int("plan[0]", value, 6, error=error)
    with pytest.raises(error):
        check_ints("plan", [6, value], 6, error=error)
    with pytest.raises(error):
        check_float("alpha", value, above=5, error=error)
    with pytest.raises(error):
        check_choice("mode", value, ("a", "b"), error=error)


def test_config_error_is_a_value_error():
    with pytest.raises(ValueError):
        check_int("x", -1, 0)


@FAST
@given(st.lists(st.integers(0, 100), min_size=1, max_size=5), st.data())
def test_check_ints_returns_the_values_and_names_the_bad_entry(values, data):
    assert check_ints("--sizes", values, 0) == values
    index = data.draw(st.integers(0, len(values)))
    bad = [*values[:index], data.draw(st.one_of(st.integers(max_value=-1), not_ints)), *values[index:]]
    with pytest.raises(ConfigError) as err:
        check_ints("--sizes", bad, 0)
    _names(err, f"--sizes[{index}]", bad[index])


def test_check_ints_needs_at_least_one_value():
    with pytest.raises(ConfigError, match=r"--sizes=\[\] is not allowed: give at least one integer"):
        check_ints("--sizes", ())


@FAST
@given(st.floats(-1e6, 1e6), st.floats(0, 1e6))
def test_check_float_returns_accepted_values_unchanged(low, width):
    value = low + width / 2
    assert check_float("x", value, low, low + width) == value
    assert check_float("x", value) == value
    assert check_float("x", int(value)) == int(value)
    if low + width > low:
        assert check_float("x", low + width, above=low) == low + width


@FAST
@given(st.floats(-1e6, 1e6), st.floats(1e-3, 1e6))
def test_check_float_rejects_out_of_range_naming_field_value_and_range(low, offset):
    shown = f"{low:g}" if float(f"{low:g}") == low else repr(low)  # all digits where `:g` would round
    for value, kwargs, text in (
        (low - offset, {"minimum": low}, f">= {shown}"),
        (low + offset, {"maximum": low}, f"<= {shown}"),
        (low, {"above": low}, f"> {shown}"),
    ):
        with pytest.raises(ConfigError) as err:
            check_float("--adaptive_threshold", value, **kwargs)
        _names(err, "--adaptive_threshold", value, "a finite number", text)


@FAST
@given(not_numbers)
def test_check_float_rejects_nan_inf_bools_and_other_types(value):
    with pytest.raises(ConfigError) as err:
        check_float("depth.alpha", value)
    _names(err, "depth.alpha", value, "it must be a finite number")


def test_check_float_rejects_ints_beyond_the_float_range_and_compares_big_ints_exactly():
    with pytest.raises(ConfigError, match="finite number"):
        check_float("x", 10**400)
    assert check_float("x", 2**53 + 1, above=2**53) == 2.0**53  # float(2**53 + 1) == 2**53: not > 2**53
    with pytest.raises(ConfigError, match="x=9007199254740992 is not allowed"):
        check_float("x", 2**53, minimum=2**53 + 1)


@FAST
@given(st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=5, unique=True), st.data())
def test_check_choice_returns_a_choice_and_lists_them_otherwise(choices, data):
    value = data.draw(st.sampled_from(choices))
    assert check_choice("--cache", value, choices) is value
    other = data.draw(st.text(max_size=5).filter(lambda s: s not in choices))
    with pytest.raises(ConfigError) as err:
        check_choice("--cache", other, iter(choices))
    _names(err, "--cache", other, f"choose one of {', '.join(choices)}")


def test_allowed_text_replaces_the_generated_one():
    with pytest.raises(ConfigError, match=r"^--n_items=0 is not allowed: it must be an integer >= 1 \(0 turns"):
        check_int("--n_items", 0, 1, allowed="it must be an integer >= 1 (0 turns accuracy off)")
    with pytest.raises(ConfigError, match=r"^w.a=-1 is not allowed: weights must be finite numbers >= 0$"):
        check_float("w.a", -1, 0, allowed="weights must be finite numbers >= 0")
    with pytest.raises(ConfigError, match=r"^depth=3 is not allowed: only 0\.\.2$"):
        check_choice("depth", 3, (0, 1, 2), allowed="only 0..2")
    assert check_int("x", 2, 1, allowed="unused") == 2


@pytest.mark.parametrize("value", [True, False])
def test_a_bool_is_not_a_numeric_choice(value):
    with pytest.raises(ConfigError, match="choose one of 0, 1, 2"):
        check_choice("depth", value, (0, 1, 2))
    assert check_choice("flag", value, (True, False)) is value


def test_a_float_is_not_an_int_choice():
    with pytest.raises(ConfigError, match="depth=1.0 is not allowed"):
        check_choice("depth", 1.0, (0, 1, 2))


def _raised(make):
    try:
        make()
    except BaseException as err:  # noqa: BLE001 - the test inspects whatever was raised
        return err
    raise AssertionError("nothing raised")


def test_find_input_error_follows_causes_but_not_errors_raised_while_handling_ours():
    ours = ConfigError("data.seq_len=0 is not allowed")

    def wrapped():  # jsonargparse's way: its own error with ours as the cause
        try:
            raise ours
        except ConfigError as err:
            raise ValueError("Problem with given class_path") from err

    def bug_while_handling():  # a bug in an `except ConfigError:` block is not the user's input error
        try:
            raise ours
        except ConfigError:
            raise TypeError("a bug")  # noqa: B904 - the implicit context is what is tested

    assert find_input_error(ours) is ours
    assert find_input_error(_raised(wrapped)) is ours
    assert find_input_error(_raised(bug_while_handling)) is None
    assert find_input_error(KeyError("x")) is None
