"""`lightning_iter prepare`: JSONL/Parquet/text inputs, idempotent re-runs, no half-dataset, one-line errors."""

from __future__ import annotations

import json

import pytest

from lightning_iter.cli import main
from lightning_iter.data import StreamingDataModule
from lightning_iter.data.bpe import save_tokenizer, train_bpe
from lightning_iter.errors import ConfigError
from tests.data.corpus_helpers import source_of, write_corpus


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("prepare")
    files = write_corpus(root, docs=40)
    tokenizer = train_bpe([files["prose"], files["jsonl"]], 300, show_progress=False)
    path = save_tokenizer(tokenizer, root / "tok" / "tokenizer.json")
    return root, files, tokenizer, path


def prepare(*args: str) -> int:
    return main(["prepare", "--seq_len", "16", "--num_workers", "1", *map(str, args)])


def error_line(capsys) -> str:
    """The one error line (litdata's progress bar may share stderr); never a traceback."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "lightning_iter: error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_parquet_column_and_idempotent_rerun(setup, tmp_path, capsys):
    root, files, tokenizer, tok_path = setup
    out = tmp_path / "math"
    assert prepare("--files", files["parquet"], "--field", "body", "--tokenizer", tok_path, "--out", out) == 0
    assert f"dataset: {out}" in capsys.readouterr().out
    manifest = json.loads((out / "lightning_iter_prepare.json").read_text())
    assert manifest["documents"] == 20 and manifest["field"] == "body"
    dm = StreamingDataModule({"math": str(out)}, seq_len=16, val_size=1)
    assert source_of(tokenizer.decode(dm._sources.read(0, 0).tolist())) == "math"
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert prepare("--files", files["parquet"], "--field", "body", "--tokenizer", tok_path, "--out", out) == 0
    assert "up to date" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps
    # other settings for the same --out: refused, unless --overwrite
    assert prepare("--files", files["parquet"], "--field", "body", "--tokenizer", "bytes", "--out", out) == 2
    assert "was prepared from other inputs/settings" in error_line(capsys)
    assert (
        prepare(
            "--files", files["parquet"], "--field", "body", "--tokenizer", "bytes", "--out", out, "--overwrite", "true"
        )
        == 0
    )
    assert json.loads((out / "lightning_iter_prepare.json").read_text())["tokenizer"] == {"kind": "bytes"}
    assert [p.name for p in tmp_path.iterdir()] == ["math"]  # no temporary directories left behind


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "input file .*missing.jsonl does not exist"),
        ("empty", "input file .*empty.jsonl is empty"),
        ("field", "has no field 'content': its fields are \\['id', 'text'\\]"),
        ("column", "has no column 'text': its columns are \\['body', 'n'\\]"),
        ("vocab", "--model_vocab_size=200 is smaller than the tokenizer's vocabulary \\(300 ids\\)"),
        ("suffix", "has suffix '.csv'"),
    ],
)
def test_bad_inputs_give_one_line_errors(setup, tmp_path, capsys, case, message):
    import re

    root, files, _, tok_path = setup
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "data.csv").write_text("a,b\n")
    args = {
        "missing": ["--files", tmp_path / "missing.jsonl"],
        "empty": ["--files", files["jsonl"], tmp_path / "empty.jsonl"],
        "field": ["--files", files["jsonl"], "--field", "content"],
        "column": ["--files", files["parquet"]],
        "vocab": ["--files", files["jsonl"], "--model_vocab_size", "200"],
        "suffix": ["--files", tmp_path / "data.csv"],
    }[case]
    out = tmp_path / "out"
    assert prepare(*args, "--tokenizer", tok_path, "--out", out) == 2
    assert re.search(message, error_line(capsys))
    assert not out.exists()


def test_crash_mid_way_leaves_no_dataset_that_looks_complete(setup, tmp_path, capsys):
    root, files, _, tok_path = setup
    bad = tmp_path / "bad.jsonl"
    good = [json.dumps({"text": f"the cat sat on mat number {i}"}) for i in range(300)]
    bad.write_text("\n".join([*good, json.dumps({"text": 7})]) + "\n")  # the first line checks out
    out = tmp_path / "out"
    assert prepare("--files", bad, "--tokenizer", tok_path, "--out", out) == 2
    assert "line 301 field 'text' is a int, not a string" in error_line(capsys)
    assert list(tmp_path.iterdir()) == [bad]  # neither the output nor its temporary directory
    with pytest.raises(ConfigError, match="does not exist: run `lightning_iter prepare"):
        StreamingDataModule({"bad": str(out)}, seq_len=16)
    bad.write_text("\n".join(good) + "\n")
    assert prepare("--files", bad, "--tokenizer", tok_path, "--out", out) == 0
    assert (out / "lightning_iter_prepare.json").is_file()


def test_interrupted_before_the_marker_is_not_complete(setup, tmp_path, monkeypatch):
    """A kill after the chunks but before the manifest leaves only a hidden temp dir, cleaned by the next run."""
    from lightning_iter.data import prepare as prepare_module

    root, files, tokenizer, _ = setup
    out = tmp_path / "out"

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(prepare_module, "_write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        prepare_module.prepare_dataset([files["jsonl"]], tokenizer, str(out), seq_len=16, verbose=False)
    assert not out.exists() and len(list(tmp_path.glob(".out.tmp-*"))) == 1
    monkeypatch.undo()
    prepare_module.prepare_dataset([files["jsonl"]], tokenizer, str(out), seq_len=16, verbose=False)
    assert out.is_dir() and not list(tmp_path.glob(".out.tmp-*"))


def test_overwrite_replaces_only_a_directory_prepare_wrote(setup, tmp_path, capsys):
    root, files, _, tok_path = setup
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "keep.txt").write_text("mine")
    for extra in ([], ["--overwrite", "true"]):
        assert prepare("--files", files["jsonl"], "--tokenizer", tok_path, "--out", theirs, *extra) == 2
        line = error_line(capsys)
        assert f"--out={theirs} is a directory that `lightning_iter prepare` did not write" in line
        assert "--overwrite" not in line.split("error:", 1)[1]
        assert (theirs / "keep.txt").read_text() == "mine" and [p.name for p in theirs.iterdir()] == ["keep.txt"]
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    assert prepare("--files", files["jsonl"], "--tokenizer", tok_path, "--out", a_file, "--overwrite", "true") == 2
    assert "exists and is not a directory" in error_line(capsys) and a_file.read_text() == "x"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert prepare("--files", files["jsonl"], "--tokenizer", tok_path, "--out", empty) == 0  # nothing to lose


def test_stale_staging_of_a_killed_run_is_removed_at_the_next_start_and_a_live_ones_kept(setup, tmp_path):
    import os
    import subprocess
    import sys

    root, files, _, tok_path = setup
    out = tmp_path / "out"
    assert prepare("--files", files["jsonl"], "--tokenizer", tok_path, "--out", out) == 0
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = tmp_path / f".out.tmp-{child.pid}-abcd1234"
    live = tmp_path / f".out.tmp-{os.getppid()}-abcd1234"  # another prepare still running into the same parent
    for staging in (dead, live):
        staging.mkdir()
        (staging / "chunk-0-0.bin").write_bytes(b"x" * 1000)
    assert prepare("--files", files["jsonl"], "--tokenizer", tok_path, "--out", out) == 0  # "up to date"
    assert not dead.exists() and live.is_dir()


def test_text_that_is_not_in_its_encoding_is_an_error_naming_file_and_offset(setup, tmp_path, capsys):
    latin = tmp_path / "latin.txt"
    latin.write_bytes("le caf\u00e9 est bon\n".encode("latin-1"))
    out = tmp_path / "out"
    assert prepare("--files", latin, "--tokenizer", "bytes", "--out", out) == 2
    assert f"input file {latin} is not valid utf-8 text: byte 0xe9 at byte offset 6" in error_line(capsys)
    assert not out.exists()
    assert (
        prepare("--files", latin, "--tokenizer", "bytes", "--out", out, "--encoding", "latin-1", "--seq_len", "4") == 0
    )
    dm = StreamingDataModule({"latin": str(out)}, seq_len=4, val_size=1)
    blocks = [dm._sources.read(0, i).tolist() for i in range(3)]
    assert "\u00e9".encode() in bytes(t for b in blocks for t in b[:-1] if t < 256)  # é kept, as UTF-8 bytes
    noise = tmp_path / "noise.txt"
    noise.write_bytes(bytes([0x41, 0x42, 0xFF, 0xFE, 0x80]) * 100)
    assert prepare("--files", noise, "--tokenizer", "bytes", "--out", tmp_path / "n") == 2
    assert f"input file {noise} is not valid utf-8 text: byte 0xff at byte offset 2" in error_line(capsys)
    jsonl = tmp_path / "latin.jsonl"
    jsonl.write_bytes(b'{"text": "fine"}\n' + '{"text": "caf\u00e9"}\n'.encode("latin-1"))
    assert prepare("--files", jsonl, "--tokenizer", "bytes", "--out", tmp_path / "j") == 2
    assert f"input file {jsonl} is not valid utf-8 text: byte 0xe9 at byte offset {17 + 13}" in error_line(capsys)
    assert prepare("--files", latin, "--tokenizer", "bytes", "--out", tmp_path / "x", "--encoding", "klingon") == 2
    assert "--encoding='klingon' is not a codec Python knows" in error_line(capsys)
