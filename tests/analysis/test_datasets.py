"""Analysis datasets from local files in their hub formats: one reader per dataset, jsonl / json / parquet."""

import pytest
import torch

from lightning_iter.analysis.datasets import (
    DATASETS,
    document_rows,
    find_dataset,
    iter_examples,
    pack_rows,
    read_examples,
)
from lightning_iter.data import ByteTokenizer
from lightning_iter.errors import ConfigError
from tests.analysis.dataset_files import records, write_dataset

EXPECTED = {  # the first fixture record of each dataset, as the reader must split it
    "gsm8k": lambda r: (r["question"], r["answer"]),
    "math": lambda r: (r["problem"], r["solution"]),
    "mquake": lambda r: (r["questions"][0], r["answer"]),
    "fineweb_edu": lambda r: (r["text"], None),
    "lambada": lambda r: tuple(r["text"].rsplit(" ", 1)),
}


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet"])
@pytest.mark.parametrize("name", DATASETS)
def test_every_dataset_reads_from_every_format(name, suffix, tmp_path):
    path = write_dataset(tmp_path, name, suffix)
    examples = read_examples(name, path)
    rows = records(name)
    assert len(examples) == len(rows)
    first = examples[0]
    assert (first.prompt, first.answer) == EXPECTED[name](rows[0])
    assert first.text.startswith(first.prompt) and (first.answer is None or first.text.endswith(first.answer))
    assert find_dataset(name, tmp_path) == path


def test_a_folder_of_shards_reads_in_order(tmp_path):
    rows = records("fineweb_edu", 6)
    write_dataset(tmp_path / "fineweb_edu", "part-0", ".parquet", rows[:3])
    write_dataset(tmp_path / "fineweb_edu", "part-1", ".parquet", rows[3:])
    assert find_dataset("fineweb_edu", tmp_path) == tmp_path / "fineweb_edu"
    assert [e.prompt for e in iter_examples("fineweb_edu", tmp_path / "fineweb_edu")] == [r["text"] for r in rows]


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_a_record_without_the_field_is_one_clear_error(suffix, tmp_path):
    path = write_dataset(tmp_path, "gsm8k", suffix, [{"question": "q", "answer": "a"}, {"question": "q2", "text": "x"}])
    with pytest.raises(ConfigError, match=r"answer=None.*gsm8k record needs a string.*question, answer"):
        read_examples("gsm8k", path)
    mquake = write_dataset(tmp_path, "mquake", ".json", [{"questions": [], "answer": "a"}])
    with pytest.raises(ConfigError, match="record 0 has questions=.*non-empty list of strings"):
        read_examples("mquake", mquake)


def test_rows_start_at_documents_and_never_share_one():
    docs = [torch.arange(10 * k, 10 * k + n) for k, n in enumerate([3, 5, 9, 2, 2, 7])]
    rows = pack_rows(iter(docs), 10, 6, eos_id=99)
    assert rows.tolist() == [
        [0, 1, 2, 99, 10, 11],  # doc 0, EOS, the start of doc 1 (its rest is dropped)
        [20, 21, 22, 23, 24, 25],  # doc 2, cut at seq_len
        [30, 31, 99, 40, 41, 99],  # docs 3 and 4, then EOS of the row's last piece
    ]
    assert pack_rows(iter(docs), 1, 6, eos_id=99).shape == (1, 6)
    with pytest.raises(ConfigError, match="fewer than seq_len=100"):
        pack_rows(iter(docs), 4, 100, eos_id=99)


def test_document_rows_read_plain_text_for_heldout_nll(tmp_path):
    path = write_dataset(tmp_path, "heldout", ".jsonl", records("fineweb_edu", 4))
    rows = document_rows(ByteTokenizer(), path, None, 32)
    assert rows.shape[1] == 32 and len(rows) == 4  # every document is longer than a row
    assert ByteTokenizer().decode(rows[1].tolist()) == records("fineweb_edu", 4)[1]["text"][:32]
