"""`lightning_iter fit --config <paper config>`: one line naming what is missing, or a run on the default data paths.

The tiny run overrides only size, steps and hardware; data and tokenizer come from the config's default paths
(`data/prepared/<source>`, `data/tokenizers/cosmo2/tokenizer.json`, relative to the working directory).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from lightning_iter.cli import main
from lightning_iter.data import HFTokenizer
from lightning_iter.data.bpe import train_bpe
from lightning_iter.data.prepare import prepare_dataset
from tests.data.corpus_helpers import write_corpus

ROOT = Path(__file__).resolve().parents[2]
PAPER = ROOT / "configs" / "paper"
TOKENIZER = Path("data/tokenizers/cosmo2/tokenizer.json")
SOURCES = ("fineweb-edu", "cosmopedia-v2", "python-edu", "open-web-math")  # configs/paper/recipes/smollm-v1.yaml
SEQ = 32
TINY = [
    *("--model.arch tiny --trainer.max_steps 3 --model.warmup_steps 1".split()),
    *(f"--data.init_args.seq_len {SEQ} --data.init_args.val_size 2".split()),
    *("--trainer.accelerator cpu --trainer.devices 1 --trainer.precision 32-true".split()),
    *("--trainer.enable_progress_bar false --trainer.enable_model_summary false".split()),
]


@pytest.fixture
def single_process_ddp():
    """The paper recipes keep `strategy: ddp`: on one device Lightning opens a world-size-1 process group in this
    process and sets MASTER_PORT; close both so later tests (and their DDP subprocesses) start clean."""
    before = dict(os.environ)
    yield
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    os.environ.clear()
    os.environ.update(before)


def error_lines(capsys) -> list[str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("lightning_iter: error:")]


def test_without_data_fit_names_the_missing_tokenizer_then_the_missing_prepared_dir(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = str(PAPER / "smollm-1.7b-lidas.yaml")
    assert main(["fit", "--config", config]) == 2
    [line] = error_lines(capsys)
    assert line.startswith(f"lightning_iter: error: data.tokenizer: {TOKENIZER} does not exist: put the tokenizer.json")
    TOKENIZER.parent.mkdir(parents=True)
    TOKENIZER.write_text(train_bpe([write_corpus(tmp_path / "c")["jsonl"]], 300, show_progress=False)._backend.to_str())
    assert main(["fit", "--config", config]) == 2
    [line] = error_lines(capsys)
    assert line == (
        "lightning_iter: error: data source 'fineweb_edu': data/prepared/fineweb-edu does not exist: run "
        f"`lightning_iter prepare --files <your fineweb_edu files> --tokenizer {TOKENIZER} --seq_len 2048 "
        "--out data/prepared/fineweb-edu` to make it"
    )


def test_a_paper_config_trains_on_a_tiny_prepared_corpus_at_its_default_paths(
    tmp_path, monkeypatch, single_process_ddp
):
    monkeypatch.chdir(tmp_path)
    files = write_corpus(tmp_path / "corpus")
    TOKENIZER.parent.mkdir(parents=True)
    TOKENIZER.write_text(train_bpe([files["prose"], files["jsonl"]], 300, show_progress=False)._backend.to_str())
    tokenizer = HFTokenizer.from_file(TOKENIZER)
    first = prepare_dataset(
        [files["prose"], files["jsonl"]],
        tokenizer,
        f"data/prepared/{SOURCES[0]}",
        seq_len=SEQ,
        num_workers=1,
        verbose=False,
    ).out
    for name in SOURCES[1:]:
        shutil.copytree(first, f"data/prepared/{name}")
    assert main(["fit", "--config", str(PAPER / "smollm-360m-ln-scaling.yaml"), *TINY]) == 0
    [ckpt] = Path("runs/smollm-360m").rglob("last.ckpt")
    state = torch.load(ckpt, weights_only=False)
    assert state["global_step"] == 3
    entry = state["lightning_iter"]
    assert entry["config"]["vocab_size"] == tokenizer.vocab_size == 300  # the model follows the tokenizer
    assert entry["config"]["ln_scaling"] is True
    assert sorted(entry["data"]["init_args"]["sources"].values()) == sorted(f"data/prepared/{s}" for s in SOURCES)
