"""The embedded corpus stream: deterministic, resumable from a batch index, disjoint across ranks and splits."""

import itertools

import pytest
import torch
from torch.utils.data import DataLoader

from lightning_iter.data import ByteTokenizer, PrimitivesDataModule
from lightning_iter.data.primitive_corpus import PrimitiveHoldout, PrimitiveStream
from lightning_iter.errors import ConfigError


def take(stream, n, workers=0, batch_size=None):
    loader = DataLoader(stream, batch_size=batch_size or stream.batch_size, num_workers=workers)
    return list(itertools.islice(iter(loader), n))


def test_sequences_are_packed_documents_of_fixed_length():
    seq = next(iter(PrimitiveStream(seq_len=2048, batch_size=2)))
    assert seq.shape == (2049,) and seq.dtype == torch.long
    assert ByteTokenizer.eos_id in seq.tolist()
    assert "Fill in" in ByteTokenizer().decode(seq.tolist())


def test_stream_is_deterministic_and_resumes_at_a_batch():
    full = take(PrimitiveStream(32, 4, seed=7), 5)
    again = take(PrimitiveStream(32, 4, seed=7), 5)
    resumed = take(PrimitiveStream(32, 4, seed=7, start_batch=3), 2)
    for a, b in zip(full, again):
        assert torch.equal(a, b)
    assert torch.equal(resumed[0], full[3]) and torch.equal(resumed[1], full[4])
    other_seed = take(PrimitiveStream(32, 4, seed=8), 1)
    assert not torch.equal(other_seed[0], full[0])


def test_workers_deliver_the_same_batches_in_the_same_order():
    serial = take(PrimitiveStream(32, 4), 6)
    parallel = take(PrimitiveStream(32, 4), 6, workers=2)
    for a, b in zip(serial, parallel):
        assert torch.equal(a, b)


def test_ranks_see_disjoint_samples():
    ranks = [PrimitiveStream(32, 4, rank=r, world_size=2) for r in (0, 1)]
    indices = [{s.global_index(j) for j in range(100)} for s in ranks]
    assert not indices[0] & indices[1]
    assert indices[0] | indices[1] == set(range(200))


def test_validation_split_never_overlaps_training():
    train = {tuple(t.tolist()) for batch in take(PrimitiveStream(64, 16), 20) for t in batch}
    holdout = {tuple(PrimitiveHoldout(64, 32)[i].tolist()) for i in range(32)}
    assert not train & holdout


def test_datamodule_batches_are_shifted_inputs_and_targets():
    dm = PrimitivesDataModule(seq_len=16, batch_size=3)
    inputs, targets = next(iter(dm.train_dataloader()))
    assert inputs.shape == targets.shape == (3, 16)
    assert torch.equal(inputs[:, 1:], targets[:, :-1])
    assert dm.vocab_size == 259


def test_tokenizer_round_trip():
    tok = ByteTokenizer()
    text = "x=3\ny=x ✓"
    assert tok.decode(tok.encode(text, bos=True, eos=True)) == text


def test_bad_datamodule_arguments():
    with pytest.raises(ConfigError, match="data.seq_len=0 is not allowed"):
        PrimitivesDataModule(seq_len=0)
