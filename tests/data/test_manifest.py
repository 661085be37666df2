"""The prepared-dataset manifest: one module reads, validates and writes it for both `prepare` and streaming."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_iter.data import ByteTokenizer, manifest
from lightning_iter.data.manifest import (
    MANIFEST,
    MANIFEST_VERSION,
    REQUIRED_FIELDS,
    existing_manifest,
    read_manifest,
    tokenizer_fingerprint,
    write_manifest,
)
from lightning_iter.errors import ConfigError
from tests.test_imports import import_graph


def complete(**changes):
    tokenizer = ByteTokenizer()
    return {
        "version": MANIFEST_VERSION,
        "key": "k",
        "seq_len": 16,
        "block_size": 17,
        "blocks": 3,
        "tokenizer": tokenizer.to_spec(),
        "tokenizer_fingerprint": tokenizer_fingerprint(tokenizer),
        "max_token_id": 200,
        **changes,
    }


def dataset(tmp_path, data=None, index=True):
    """A directory shaped like a prepare output: litdata's index.json and (unless data is False) the manifest."""
    directory = tmp_path / "ds"
    directory.mkdir(exist_ok=True)
    if index:
        (directory / "index.json").write_text("{}")
    if data is not False:
        (directory / MANIFEST).write_text(json.dumps(complete() if data is None else data))
    return directory


def test_written_manifest_reads_back_and_marks_the_directory_complete(tmp_path):
    directory = dataset(tmp_path, data=False)
    assert existing_manifest(directory) is None  # chunks without the manifest: not complete
    write_manifest(directory, complete())
    assert read_manifest(directory) == existing_manifest(directory) == complete()
    assert sorted(p.name for p in directory.iterdir()) == ["index.json", MANIFEST]
    assert read_manifest("s3://bucket/ds") is None  # object stores have no manifest


def test_prepare_and_streaming_share_it_without_importing_each_other():
    from lightning_iter.data import prepare, streaming

    assert prepare.tokenizer_fingerprint is streaming.tokenizer_fingerprint is manifest.tokenizer_fingerprint
    assert streaming.read_manifest is manifest.read_manifest
    graph = import_graph()
    assert "lightning_iter.data.streaming" not in graph["lightning_iter.data.prepare"]
    assert "lightning_iter.data.prepare" not in graph["lightning_iter.data.streaming"]


def test_incomplete_or_missing_outputs_say_to_run_prepare(tmp_path):
    with pytest.raises(ConfigError, match="does not exist: run `lightning_iter prepare"):
        read_manifest(tmp_path / "nowhere")
    directory = dataset(tmp_path, index=False)
    with pytest.raises(ConfigError, match="is not a completed `lightning_iter prepare` output"):
        read_manifest(directory)
    (directory / "index.json").write_text("{}")
    (directory / MANIFEST).write_text("{half")
    with pytest.raises(ConfigError, match="is not valid JSON"):
        read_manifest(directory)
    assert existing_manifest(directory) is None


def test_a_newer_manifest_gets_one_clear_error(tmp_path):
    newer = MANIFEST_VERSION + 1
    directory = dataset(tmp_path, data={"version": newer})  # checked before the fields a newer layout may lack
    with pytest.raises(
        ConfigError,
        match=f"manifest version {newer}, newer than this lightning_iter "
        rf"\(reads up to {MANIFEST_VERSION}\): upgrade lightning_iter",
    ):
        read_manifest(directory)


@pytest.mark.parametrize("field", REQUIRED_FIELDS)
def test_a_manifest_without_a_field_names_it_and_is_not_written(tmp_path, field):
    data = complete()
    del data[field]
    with pytest.raises(ConfigError, match=f"is malformed: it has no '{field}' field"):
        read_manifest(dataset(tmp_path, data=data))
    (tmp_path / "ds" / MANIFEST).unlink()
    with pytest.raises(ConfigError, match=f"no '{field}'"):
        write_manifest(tmp_path / "ds", data)
    assert not (tmp_path / "ds" / MANIFEST).exists()


@settings(max_examples=15, deadline=None)
@given(version=st.integers(-2, MANIFEST_VERSION + 3))
def test_versions_up_to_ours_are_read(tmp_path_factory, version):
    directory = dataset(tmp_path_factory.mktemp("v"), data=complete(version=version))
    if 1 <= version <= MANIFEST_VERSION:
        assert read_manifest(directory)["version"] == version
    else:
        with pytest.raises(ConfigError, match="version"):
            read_manifest(directory)
