"""One JSON writer: every result file writes NaN/inf as null and parses with a strict JSON parser."""

import json
import math

import pytest

from lightning_iter.analysis import io
from lightning_iter.atomic import json_safe, write_json_atomic
from lightning_iter.eval import report


def _strict(text: str):
    def reject(token: str):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=reject)


@pytest.mark.parametrize("write", [write_json_atomic, io.write_json, report.write_json], ids=["atomic", "io", "report"])
def test_nan_and_inf_are_written_as_null(tmp_path, write):
    data = {"nan": math.nan, "inf": math.inf, "cells": [[1.5, -math.inf], (math.nan, 2)], 3: {"x": math.nan}}
    path = write(tmp_path / "out.json", data)
    assert _strict(path.read_text()) == {"nan": None, "inf": None, "cells": [[1.5, None], [None, 2]], "3": {"x": None}}


def test_strict_parser_rejects_the_old_nan_token():
    with pytest.raises(ValueError, match="NaN"):
        _strict(json.dumps({"x": math.nan}))


def test_json_safe_keeps_finite_values_and_stringifies_keys_json_cannot_hold():
    assert json_safe({"a": 1, 2: [0.5, True, None, "s"], ("b", 1): -0.0}) == {
        "a": 1,
        2: [0.5, True, None, "s"],
        "('b', 1)": -0.0,
    }


def test_values_json_cannot_make_finite_still_fail(tmp_path):
    with pytest.raises(TypeError):
        write_json_atomic(tmp_path / "bad.json", {"x": object()})
    assert not (tmp_path / "bad.json").exists()
