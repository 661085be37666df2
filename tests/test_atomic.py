"""Atomic writes: the target appears whole or not at all, and no temporary file is left behind."""

import json

import pytest

from lightning_iter.atomic import atomic_write, write_json_atomic, write_text_atomic


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
