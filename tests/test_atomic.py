"""Atomic writes and directory swaps: the target appears whole or not at all, and no temporary is left behind;
one JSON writer: every result file writes NaN/inf as null and parses with a strict JSON parser."""

import json
import math
import os
from pathlib import Path

import pytest

from lightning_iter.analysis import io
from lightning_iter.atomic import (
    atomic_write,
    json_safe,
    remove_stale_staging,
    replace_dir,
    staging_dir,
    write_json_atomic,
    write_text_atomic,
)
from lightning_iter.eval import report


def test_written_files_are_complete_and_readable_by_others(tmp_path):
    path = write_json_atomic(tmp_path / "sub" / "out.json", {"a": [1, 2]})
    assert json.loads(path.read_text()) == {"a": [1, 2]}
    assert path.stat().st_mode & 0o777 == 0o644
    assert write_text_atomic(tmp_path / "t.md", "x").read_text() == "x"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["out.json", "sub", "t.md"]


def test_a_failing_writer_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    path = write_text_atomic(tmp_path / "out.txt", "old")

    def broken(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, broken)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def _tree(path):
    return {p.relative_to(path).as_posix(): p.read_text() for p in path.rglob("*") if p.is_file()}


def test_replace_dir_swaps_in_the_new_directory_and_leaves_nothing_behind(tmp_path):
    final = tmp_path / "out"
    first = staging_dir(final)
    assert first.parent == tmp_path and first.name.startswith(".out.tmp-") and not list(first.iterdir())
    (first / "a.txt").write_text("one")
    replace_dir(first, final)
    second = staging_dir(final)
    (second / "b.txt").write_text("two")
    replace_dir(second, final)
    assert _tree(final) == {"b.txt": "two"}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_failure_mid_swap_leaves_the_old_directory_intact(tmp_path, monkeypatch):
    final = tmp_path / "out"
    (final / "sub").mkdir(parents=True)
    (final / "sub" / "old.txt").write_text("old")
    staging = staging_dir(final)
    (staging / "new.txt").write_text("new")
    rename = os.replace

    def failing(src, dst):
        if Path(src) == staging:
            raise OSError("disk gone")
        rename(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OSError, match="disk gone"):
        replace_dir(staging, final)
    monkeypatch.undo()
    assert _tree(final) == {"sub/old.txt": "old"} and _tree(staging) == {"new.txt": "new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", staging.name])  # no moved-aside copy left


def test_replacing_a_link_never_deletes_what_it_points_to(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "keep.txt").write_text("mine")
    final = tmp_path / "out"
    final.symlink_to(theirs, target_is_directory=True)
    staging = staging_dir(final)
    (staging / "new.txt").write_text("new")
    replace_dir(staging, final)
    assert not final.is_symlink() and _tree(final) == {"new.txt": "new"}
    assert _tree(theirs) == {"keep.txt": "mine"}


def test_stale_staging_of_a_killed_run_is_removed_and_nothing_else(tmp_path):
    final = tmp_path / "out"
    final.mkdir()
    (tmp_path / ".out.tmp-1234abcd").mkdir()
    (tmp_path / ".out.tmp-old-5678").mkdir()
    (tmp_path / ".other.tmp-1").mkdir()
    (tmp_path / "out.tmp-visible").mkdir()
    assert not staging_dir(final, create=False).exists()
    remove_stale_staging(final)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.tmp-1", "out", "out.tmp-visible"]


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


def test_stale_staging_of_a_name_with_glob_characters_is_found_and_neighbours_are_kept(tmp_path):
    final = tmp_path / "data[v2]"
    own = tmp_path / ".data[v2].tmp-abc"
    neighbour = tmp_path / ".datav.tmp-abc"  # what the unescaped pattern `.data[v2].tmp-*` would match
    own.mkdir()
    neighbour.mkdir()
    remove_stale_staging(final)
    assert not own.exists() and neighbour.is_dir()


def test_durable_write_renames_a_temporary_of_this_process_and_cleans_up_on_error(tmp_path):
    from lightning_iter.atomic import durable_write

    seen = []
    durable_write(tmp_path / "a.ckpt", lambda tmp: (seen.append(tmp), tmp.write_bytes(b"one")))
    assert seen[0].parent == tmp_path and seen[0].name.startswith(f".a.ckpt.tmp-{os.getpid()}-")
    assert (tmp_path / "a.ckpt").read_bytes() == b"one"

    def fail(tmp):
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        durable_write(tmp_path / "a.ckpt", fail)
    assert [p.name for p in tmp_path.iterdir()] == ["a.ckpt"] and (tmp_path / "a.ckpt").read_bytes() == b"one"


def test_a_link_is_replaced_in_one_rename(tmp_path):
    from lightning_iter.atomic import replace_with_symlink

    (tmp_path / "a").write_text("a")
    (tmp_path / "b").write_text("b")
    replace_with_symlink("a", tmp_path / "last")
    replace_with_symlink("b", tmp_path / "last")
    assert os.readlink(tmp_path / "last") == "b" and (tmp_path / "last").read_text() == "b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "last"]


def test_only_temporaries_of_writers_that_are_gone_are_stale(tmp_path):
    import subprocess
    import sys

    from lightning_iter.atomic import stale_temps

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    names = {
        "dead": f".x.ckpt.tmp-{child.pid}-0a1b2c3d",
        "self": f".x.ckpt.tmp-{os.getpid()}-0a1b2c3d",
        "legacy": ".x.ckpt.tmp-0a1b2c3d",
        "alive": f".x.ckpt.tmp-{os.getppid()}-0a1b2c3d",
        "other_suffix": f".x.txt.tmp-{child.pid}-0a1b2c3d",
    }
    for name in names.values():
        (tmp_path / name).write_text("")
    stale = {p.name for p in stale_temps(tmp_path, suffix=".ckpt")}
    assert stale == {names["dead"], names["self"], names["legacy"]}
    assert {p.name for p in stale_temps(tmp_path, "x.txt")} == {names["other_suffix"]}
