"""`lightning_iter generate`: the command prints what the library generates; options reach the generator."""

import pytest
import torch

from lightning_iter.cli import main as cli_main
from lightning_iter.commands.generate import main
from lightning_iter.generation import generate
from lightning_iter.loading import load_model
from tests.generation.checkpoint_factory import write_checkpoint


@pytest.fixture(scope="module")
def looped_ckpt(tmp_path_factory):
    return write_checkpoint(
        tmp_path_factory.mktemp("gen") / "loop.ckpt",
        {"name": "loop", "layers": 2, "repeats": 2, "encode": 1, "decode": 1},
    )


def test_generate_prints_the_greedy_continuation(looped_ckpt, capsys):
    loaded = load_model(looped_ckpt, repeat="1:3x1")
    prompt = "x = 3\n"
    expected = generate(
        loaded.model, torch.tensor([loaded.tokenizer.encode(prompt)]), 6, eos_id=loaded.tokenizer.eos_id
    )
    new = [t for t in expected.new_tokens[0].tolist() if t != loaded.tokenizer.eos_id]
    for cache in ("per_pass", "none"):
        main(
            [
                "--ckpt_path",
                str(looped_ckpt),
                "--prompt",
                prompt,
                "--max_new_tokens",
                "6",
                "--repeat",
                "1:3x1",
                "--cache",
                cache,
            ]
        )
        out, err = capsys.readouterr()
        assert out == prompt + loaded.tokenizer.decode(new) + "\n"
        assert "plan 0 1 2 1 2 1 2 3" in err and "effective depth 8" in err


def test_generate_sampling_and_adaptive_options(looped_ckpt, capsys):
    args = [
        "--ckpt_path",
        str(looped_ckpt),
        "--prompt",
        "a",
        "--max_new_tokens",
        "5",
        "--temperature",
        "1.0",
        "--top_k",
        "5",
        "--seed",
        "7",
        "--stop_at_eos",
        "false",
    ]
    main(args)
    first = capsys.readouterr().out
    main(args)
    assert capsys.readouterr().out == first
    main(
        [
            "--ckpt_path",
            str(looped_ckpt),
            "--prompt",
            "a",
            "--max_new_tokens",
            "4",
            "--adaptive_threshold",
            "1e9",
            "--cache",
            "shared",
            "--stop_at_eos",
            "false",
        ]
    )
    assert "adaptive: 1.00 of 2 block passes per token" in capsys.readouterr().err


def test_bad_options_give_one_line_errors(looped_ckpt, capsys):
    assert cli_main(["generate", "--ckpt_path", str(looped_ckpt), "--prompt", "a", "--cache", "paged"]) == 2
    assert "--cache='paged' is not allowed" in capsys.readouterr().err
    assert (
        cli_main(
            [
                "generate",
                "--ckpt_path",
                str(looped_ckpt),
                "--prompt",
                "a",
                "--adaptive_threshold",
                "0.1",
                "--cache",
                "none",
            ]
        )
        == 2
    )
    assert "needs a KV cache" in capsys.readouterr().err
