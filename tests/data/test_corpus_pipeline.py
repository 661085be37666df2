"""prepare -> stream -> train on a generated local corpus with a trained BPE tokenizer; mixture, resume, cooldown."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from lightning_iter.data import HFTokenizer, StreamingDataModule, tokenizer_from_spec
from lightning_iter.data.bpe import train_bpe
from lightning_iter.data.prepare import prepare_dataset
from lightning_iter.errors import ConfigError
from tests.data.corpus_helpers import source_of, write_corpus
from tests.helpers import small_lm, trainer

SEQ = 16


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    files = write_corpus(root)
    tokenizer = train_bpe([files["prose"], files["jsonl"]], 320, show_progress=False)
    prose = prepare_dataset(
        [files["prose"]],
        tokenizer,
        str(root / "prepared" / "prose"),
        seq_len=SEQ,
        txt_split="paragraph",
        num_workers=2,
        blocks_per_chunk=8,
        verbose=False,
    )
    math_ds = prepare_dataset(
        [files["jsonl"]],
        tokenizer,
        str(root / "prepared" / "math"),
        seq_len=SEQ,
        num_workers=1,
        blocks_per_chunk=8,
        verbose=False,
    )
    return {
        "root": root,
        "files": files,
        "tokenizer": tokenizer,
        "prose": prose.out,
        "math": math_ds.out,
        "manifests": {"prose": prose.manifest, "math": math_ds.manifest},
    }


def datamodule(corpus, **kwargs) -> StreamingDataModule:
    kwargs.setdefault("weights", {"prose": 0.7, "math": 0.3})
    return StreamingDataModule(
        {"prose": corpus["prose"], "math": corpus["math"]}, seq_len=SEQ, batch_size=4, val_size=4, **kwargs
    )


class BatchRecorder(L.Callback):
    """(global step, inputs, targets) of every training batch."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, torch.Tensor, torch.Tensor]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.rows.append((trainer.global_step, batch[0].clone(), batch[1].clone()))


def test_prepare_packs_whole_blocks_and_counts_what_it_leaves_out(corpus):
    m = corpus["manifests"]["math"]
    assert m["block_size"] == SEQ + 1 and m["documents"] == 60 and m["eos_id"] == corpus["tokenizer"].eos_id
    assert m["blocks"] * (SEQ + 1) + m["dropped_tokens"] == m["tokens"]
    assert 0 <= m["dropped_tokens"] < SEQ + 1  # one work unit: at most one partial block left out
    dm = datamodule(corpus)
    assert dm.sizes() == [corpus["manifests"]["prose"]["blocks"] - 4, m["blocks"] - 4]
    # the stream is the documents themselves, EOS-separated, in order (shuffle off)
    tok = corpus["tokenizer"]
    first_doc = corpus["files"]["jsonl"].read_text().splitlines()[0]
    expected = tok.encode(__import__("json").loads(first_doc)["text"], eos=True)
    block = dm._sources.read(1, 0).tolist()
    assert block == expected[: SEQ + 1] or expected == block[: len(expected)]


def test_prepare_stream_train(corpus):
    dm = datamodule(corpus)
    assert isinstance(dm.tokenizer, HFTokenizer) and dm.vocab_size == 320
    lm = small_lm({"name": "baseline"}, n_layers=2, vocab_size=dm.vocab_size)
    t = trainer(max_steps=4, limit_val_batches=2, val_check_interval=4, check_val_every_n_epoch=None)
    t.fit(lm, datamodule=dm)
    assert t.global_step == 4
    assert math.isfinite(float(t.callback_metrics["val/loss"]))
    spec = lm.data_state()["tokenizer"]
    assert tokenizer_from_spec(spec).encode("the cat") == corpus["tokenizer"].encode("the cat")
    assert lm.data_state()["data"]["class_path"] == "lightning_iter.data.streaming.StreamingDataModule"


def test_mixture_proportions_over_10000_samples(corpus):
    dm = datamodule(corpus)
    stream = dm.train_stream()
    picks = [s for _, s, _ in __import__("itertools").islice(stream.assignments(), 10_000)]
    share = sum(picks) / len(picks)  # source 1 is math, weight 0.3
    assert abs(share - 0.3) < 4 * math.sqrt(0.3 * 0.7 / 10_000)
    # the blocks really come from the source the mixture chose
    for _, source, block in __import__("itertools").islice(stream.assignments(), 60):
        text = corpus["tokenizer"].decode(dm._sources.read(source, block).tolist())
        assert source_of(text) == ("prose", "math")[source]


def test_workers_and_ranks_split_the_stream_without_overlap(corpus):
    dm = datamodule(corpus, shuffle=True)
    serial = [b[0] for b in __import__("itertools").islice(iter(dm.train_dataloader()), 6)]
    parallel_dm = datamodule(corpus, shuffle=True, num_workers=2)
    parallel = [b[0] for b in __import__("itertools").islice(iter(parallel_dm.train_dataloader()), 6)]
    assert all(torch.equal(a, b) for a, b in zip(serial, parallel))
    mixture = dm.mixture(samples_per_step=8)
    from lightning_iter.data.streaming import MixtureStream

    ranks = [
        list(__import__("itertools").islice(MixtureStream(dm._sources, mixture, 4, 0, r, 2).assignments(), 40))
        for r in range(2)
    ]
    assert {g for g, _, _ in ranks[0]}.isdisjoint({g for g, _, _ in ranks[1]})
    assert sorted(g for rank in ranks for g, _, _ in rank) == list(range(80))


def test_resume_continues_the_exact_token_stream(corpus, tmp_path):
    def run(max_steps, ckpt_path=None, callbacks=()):
        dm = datamodule(corpus)
        lm = small_lm({"name": "baseline"}, n_layers=2, vocab_size=dm.vocab_size)
        recorder = BatchRecorder()
        t = trainer(
            max_steps=max_steps,
            accumulate_grad_batches=2,
            callbacks=[recorder, *callbacks],
            enable_checkpointing=bool(callbacks),
            default_root_dir=tmp_path,
        )
        t.fit(lm, datamodule=dm, ckpt_path=ckpt_path)
        return recorder.rows

    full = run(4)
    checkpoint = ModelCheckpoint(dirpath=tmp_path, filename="step2", every_n_train_steps=2, save_top_k=-1)
    first = run(2, callbacks=[checkpoint])
    second = run(4, ckpt_path=str(tmp_path / "step2.ckpt"))
    assert len(full) == 8 and len(first) == 4 and len(second) == 4
    for (step_a, inp_a, tgt_a), (step_b, inp_b, tgt_b) in zip(full, first + second):
        assert step_a == step_b and torch.equal(inp_a, inp_b) and torch.equal(tgt_a, tgt_b)
    sequences = [tuple(row.tolist()) for _, inp, _ in full for row in inp]
    assert len(set(sequences)) == len(sequences)  # nothing repeated within the epoch


def test_cooldown_switches_mixture_at_its_step_during_growth(corpus):
    dm = datamodule(corpus, weights={"prose": 1.0}, cooldown={"start_step": 2, "weights": {"math": 1.0}})
    lm = small_lm(
        {"name": "lidas", "block_size": 1, "initial_depth": 2, "horizon": 3, "alpha": 1.0},
        n_layers=3,
        vocab_size=dm.vocab_size,
    )
    recorder = BatchRecorder()
    t = trainer(max_steps=4, accumulate_grad_batches=2, callbacks=[recorder])
    t.fit(lm, datamodule=dm)
    assert lm.model.n_unique == 3  # growth happened in the same run
    tok = corpus["tokenizer"]
    for step, inputs, targets in recorder.rows:
        full = torch.cat([inputs, targets[:, -1:]], dim=1)
        kinds = {source_of(tok.decode(row.tolist())) for row in full}
        assert kinds == ({"prose"} if step < 2 else {"math"}), (step, kinds)
    assert [s for s, _, _ in recorder.rows] == [0, 0, 1, 1, 2, 2, 3, 3]


def test_cooldown_20_percent_math_share_from_its_step():
    from lightning_iter.data.mixture import Mixture, Phase

    mixture = Mixture([1000, 1000], [Phase(0, (1.0, 0.0)), Phase(10, (0.8, 0.2))], samples_per_step=100)
    sources = mixture.sources(0, 11_000)
    assert sources[:1000].sum() == 0
    share = sources[1000:].mean()
    assert abs(share - 0.2) < 4 * math.sqrt(0.2 * 0.8 / 10_000)


def test_model_vocabulary_smaller_than_tokenizer_is_an_error(corpus):
    dm = datamodule(corpus)
    lm = small_lm({"name": "baseline"}, n_layers=2, vocab_size=300)
    with pytest.raises(ConfigError, match="tokenizer needs vocab_size 320 but the model has model.vocab_size=300"):
        trainer(max_steps=1).fit(lm, datamodule=dm)


def test_bad_datamodule_settings(corpus, tmp_path):
    with pytest.raises(ConfigError, match="prepared with seq_len=16"):
        StreamingDataModule({"prose": corpus["prose"]}, seq_len=32)
    with pytest.raises(ConfigError, match=r"does not exist: run `lightning_iter prepare"):
        StreamingDataModule({"x": str(tmp_path / "nope")}, seq_len=SEQ)
    with pytest.raises(ConfigError, match=r"unknown sources \['code'\]"):
        datamodule(corpus, weights={"code": 1.0})
    with pytest.raises(ConfigError, match="cooldown.start_step"):
        datamodule(corpus, cooldown={"start_step": 0, "weights": {"math": 1}})
    with pytest.raises(ConfigError, match="weights must be finite numbers >= 0"):
        datamodule(corpus, weights={"prose": -1.0})
    from lightning_iter.data import ByteTokenizer

    other = prepare_dataset(
        [corpus["files"]["jsonl"]], ByteTokenizer(), str(tmp_path / "bytes"), seq_len=SEQ, verbose=False
    )
    with pytest.raises(ConfigError, match="'bytes' was prepared with another tokenizer"):
        StreamingDataModule({"prose": corpus["prose"], "bytes": other.out}, seq_len=SEQ)


def test_cli_fit_takes_the_vocabulary_from_the_prepared_data(corpus, tmp_path):
    import yaml

    from lightning_iter.cli import main
    from lightning_iter.loading import load_model
    from tests.helpers import SMALL

    config = {
        "trainer": {
            "accelerator": "cpu",
            "max_steps": 2,
            "logger": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "limit_val_batches": 0,
            "default_root_dir": str(tmp_path),
        },
        "model": {"arch": "tiny", "arch_overrides": {**SMALL, "n_layers": 2}, "warmup_steps": 1},
        "data": {
            "class_path": "lightning_iter.data.StreamingDataModule",
            "init_args": {
                "sources": {"prose": corpus["prose"], "math": corpus["math"]},
                "seq_len": SEQ,
                "batch_size": 2,
                "val_size": 2,
            },
        },
    }
    path = tmp_path / "fit.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["fit", "--config", str(path)]) == 0
    loaded = load_model(next((tmp_path / "fit" / "checkpoints").glob("*.ckpt")))  # run dir: <root>/<config stem>
    assert loaded.model.config.vocab_size == 320  # the preset's 260 was replaced by the tokenizer's
    assert isinstance(loaded.tokenizer, HFTokenizer)
    assert loaded.tokenizer.encode("the cat sat") == corpus["tokenizer"].encode("the cat sat")
