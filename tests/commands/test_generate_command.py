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


def test_generate_batches_prompts_and_samples(looped_ckpt, capsys, tmp_path):
    base = ["--ckpt_path", str(looped_ckpt), "--max_new_tokens", "5", "--stop_at_eos", "false"]
    singles = []
    for prompt in ("x = 3\n", "ab"):
        main([*base, "--prompt", prompt])
        singles.append(capsys.readouterr().out)
    prompts_file = tmp_path / "prompts.json"
    prompts_file.write_text('["ab"]')
    main([*base, "--prompt", "x = 3\n", "--prompts_file", str(prompts_file)])
    out, err = capsys.readouterr()
    assert out == f"### prompt 1\n{singles[0]}### prompt 2\n{singles[1]}"
    assert "batch 2" in err
    sampled = [*base, "--prompt", "ab", "--temperature", "1.0"]
    alone = []
    for seed in (7, 8, 9):
        main([*sampled, "--seed", str(seed)])
        alone.append(capsys.readouterr().out)
    main([*sampled, "--seed", "7", "--num_samples", "3"])
    out = capsys.readouterr().out
    assert out == "".join(f"### prompt 1, sample {k + 1} (seed {7 + k})\n{text}" for k, text in enumerate(alone))
    assert len(set(alone)) == 3


def test_bad_prompt_options_give_one_line_errors(looped_ckpt, capsys, tmp_path):
    ckpt = ["generate", "--ckpt_path", str(looped_ckpt)]
    assert cli_main([*ckpt, "--prompt", "a", "--num_samples", "2"]) == 2
    assert "--num_samples=2 needs --temperature > 0" in capsys.readouterr().err
    assert cli_main([*ckpt, "--prompt", "a", "--num_samples", "0", "--temperature", "1"]) == 2
    assert "--num_samples=0" in capsys.readouterr().err
    assert cli_main([*ckpt, "--prompts_file", str(tmp_path / "missing.txt")]) == 2
    assert "is not a file" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text('{"prompt": "a"}')
    assert cli_main([*ckpt, "--prompts_file", str(tmp_path / "bad.json")]) == 2
    assert "must hold a JSON list of strings" in capsys.readouterr().err
    assert cli_main(ckpt) == 2
    assert "no prompt" in capsys.readouterr().err
    assert cli_main([*ckpt, "--prompt", "a", "--adaptive_threshold", "0.1", "--adaptive_prefill", "x"]) == 2
    assert "--adaptive_prefill='x' is not allowed" in capsys.readouterr().err
