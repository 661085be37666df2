"""Start-up checks of prepared data: each missing or truncated piece is one error naming the path and the fix."""

from __future__ import annotations

import json
import shutil

import pytest

from lightning_iter.data import HFTokenizer, StreamingDataModule
from lightning_iter.data.bpe import train_bpe
from lightning_iter.data.manifest import INDEX, MANIFEST
from lightning_iter.data.prepare import prepare_dataset
from lightning_iter.data.startup_checks import check_prepared_dir, check_tokenizer_file
from lightning_iter.errors import ConfigError, LightningIterError
from tests.data.corpus_helpers import write_corpus

SEQ = 16


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A tokenizer.json and one prepared source of several chunks."""
    root = tmp_path_factory.mktemp("startup")
    files = write_corpus(root)
    tokenizer_path = root / "tokenizer.json"
    tokenizer_path.write_text(train_bpe([files["prose"]], 300, show_progress=False)._backend.to_str())
    tokenizer = HFTokenizer.from_file(tokenizer_path)
    out = prepare_dataset(
        [files["prose"]], tokenizer, str(root / "prepared-prose"), seq_len=SEQ, txt_split="paragraph", verbose=False,
        blocks_per_chunk=8, num_workers=1,
    ).out  # fmt: skip
    return {"tokenizer": str(tokenizer_path), "source": out}


@pytest.fixture
def source(prepared, tmp_path):
    """A fresh copy of the prepared source, to break."""
    return shutil.copytree(prepared["source"], tmp_path / "prose")


def build(path, tokenizer):
    return StreamingDataModule({"prose": str(path)}, tokenizer=tokenizer, seq_len=SEQ, batch_size=2, val_size=1)


def test_a_complete_prepared_dir_passes(prepared, source):
    check_prepared_dir("prose", str(source), prepared["tokenizer"], SEQ)
    assert build(source, prepared["tokenizer"]).vocab_size == 300


def test_missing_dir_names_the_path_and_the_prepare_command(prepared, tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError) as err:
        build(missing, prepared["tokenizer"])
    assert str(err.value) == (
        f"data source 'prose': {missing} does not exist: run `lightning_iter prepare --files <your prose files> "
        f"--tokenizer {prepared['tokenizer']} --seq_len {SEQ} --out {missing}` to make it"
    )
    assert isinstance(err.value, LightningIterError)


@pytest.mark.parametrize("marker", [INDEX, MANIFEST])
def test_missing_index_or_manifest_is_named(prepared, source, marker):
    (source / marker).unlink()
    with pytest.raises(ConfigError, match=rf"{source / marker} \(.*\) is missing.*lightning_iter prepare --files"):
        build(source, prepared["tokenizer"])


def test_missing_chunk_is_named_not_a_litdata_timeout(prepared, source):
    chunks = json.loads((source / INDEX).read_text())["chunks"]
    assert len(chunks) > 2
    (source / chunks[1]["filename"]).unlink()
    with pytest.raises(ConfigError, match=rf"chunk {source / chunks[1]['filename']} listed in index.json is missing"):
        build(source, prepared["tokenizer"])


def test_truncated_chunks_are_named_with_their_sizes_and_counted(prepared, source):
    chunks = json.loads((source / INDEX).read_text())["chunks"]
    for chunk in chunks[:2]:
        path = source / chunk["filename"]
        path.write_bytes(path.read_bytes()[:-5])
    expected = f"chunk {source / chunks[0]['filename']} is truncated: {chunks[0]['chunk_bytes'] - 5} of the "
    with pytest.raises(ConfigError, match=rf"{expected}.*\(2 of {len(chunks)} chunks missing or truncated\)"):
        build(source, prepared["tokenizer"])


def test_an_unreadable_index_is_named(prepared, source):
    (source / INDEX).write_text("{not json")
    with pytest.raises(ConfigError, match=rf"{source / INDEX} is not a litdata chunk index"):
        build(source, prepared["tokenizer"])


def test_missing_tokenizer_file_is_checked_first(source, tmp_path):
    missing = tmp_path / "cosmo2" / "tokenizer.json"
    with pytest.raises(ConfigError, match=rf"^data.tokenizer: {missing} does not exist: put the tokenizer.json there"):
        build(tmp_path / "no-data", str(missing))
    (tmp_path / "cosmo2").mkdir()
    with pytest.raises(ConfigError, match=rf"{missing} does not exist.*lightning_iter tokenizer train"):
        check_tokenizer_file(str(tmp_path / "cosmo2"))


def test_object_store_sources_and_builtin_tokenizers_are_not_checked_locally():
    check_prepared_dir("web", "s3://bucket/prefix", None, SEQ)
    check_tokenizer_file(None)
    check_tokenizer_file("bytes")
