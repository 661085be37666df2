"""Input discovery and document reading shared by `prepare` and `tokenizer train`."""

import json

import pytest

from lightning_iter.data.documents import check_input, find_inputs, iter_documents
from lightning_iter.errors import ConfigError


def test_text_splits_jsonl_and_globs(tmp_path):
    (tmp_path / "a.txt").write_text("one\ntwo\n\nthree\n")
    (tmp_path / "b.jsonl").write_text(json.dumps({"text": "x"}) + "\n\n" + json.dumps({"text": "  "}) + "\n")
    (tmp_path / "skip.csv").write_text("not an input")
    assert [p.name for p in find_inputs([tmp_path])] == ["a.txt", "b.jsonl"]
    assert [p.name for p in find_inputs([str(tmp_path / "*.txt")])] == ["a.txt"]
    a = tmp_path / "a.txt"
    assert list(iter_documents(a)) == ["one\ntwo\n\nthree\n"]
    assert list(iter_documents(a, txt_split="paragraph")) == ["one\ntwo", "three\n"]
    assert list(iter_documents(a, txt_split="line")) == ["one", "two", "three"]
    assert list(iter_documents(tmp_path / "b.jsonl")) == ["x"]  # blank documents are skipped
    with pytest.raises(ConfigError, match="txt_split='words' is not allowed"):
        list(iter_documents(a, txt_split="words"))
    with pytest.raises(ConfigError, match=r"pattern .*\*.parquet' matches no file"):
        find_inputs([str(tmp_path / "*.parquet")])


def test_bad_jsonl(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("[1, 2]\n")
    with pytest.raises(ConfigError, match="line 1 is a JSON list, not an object"):
        check_input(path)
    path.write_text("{oops\n")
    with pytest.raises(ConfigError, match="line 1 is not valid JSON"):
        check_input(path)
    path.write_text("\n\n")
    with pytest.raises(ConfigError, match="is empty \\(only blank lines\\)"):
        check_input(path)
