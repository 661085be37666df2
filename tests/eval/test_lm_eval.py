"""lm-eval backend: the `lightning_iter` model type computes the numbers a plain forward does, and runs a local task."""

from __future__ import annotations

import json

import pytest
import torch

# lm-eval is in the dev extra, so CI has it: a missing install fails here instead of skipping.
from lm_eval.api.instance import Instance  # noqa: E402

from lightning_iter.cli import main as cli_main
from lightning_iter.commands.lm_eval import harness_argv
from lightning_iter.data.tokenizer import ByteTokenizer
from lightning_iter.eval.lm_eval import LM_EVAL_TASKS_DIR, LightningIterLM  # noqa: E402
from lightning_iter.loading import LoadedModel
from tests.eval.checkpoints import tiny_model, write_checkpoint


def request(kind, *args):
    return Instance(request_type=kind, doc={}, arguments=tuple(args), idx=0)


def direct_logprobs(model, ids):
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids[:-1]])).float(), -1)[0]
    return logp.gather(-1, torch.tensor(ids[1:])[:, None])[:, 0]


@pytest.fixture(scope="module")
def lm():
    return LightningIterLM(loaded=LoadedModel(tiny_model(), ByteTokenizer(), "test"), batch_size=3)


def test_loglikelihood_matches_a_plain_forward(lm):
    tok = ByteTokenizer()
    pairs = [("x = 1\ny =", " 7"), ("Fill in the blank:", " abc"), ("", "hello")]
    out = lm.loglikelihood([request("loglikelihood", c, t) for c, t in pairs], disable_tqdm=True)
    for (context, cont), (logprob, greedy) in zip(pairs, out):
        ctx = tok.encode(context) or [tok.eos_id]
        expected = direct_logprobs(lm.model, ctx + tok.encode(cont))[-len(tok.encode(cont)) :].sum()
        assert logprob == pytest.approx(float(expected), abs=1e-4)
        assert isinstance(greedy, bool)


def test_rolling_loglikelihood_covers_every_token_once(lm, monkeypatch):
    tok = ByteTokenizer()
    text = "abc def " * 20  # 160 bytes: three windows of the 64-token context
    ids = tok.encode(text)
    wide = LightningIterLM(loaded=lm.loaded, max_length=200)
    (whole,) = wide.loglikelihood_rolling([request("loglikelihood_rolling", text)], disable_tqdm=True)
    assert whole == pytest.approx(float(direct_logprobs(lm.model, [tok.eos_id, *ids]).sum()), abs=1e-3)
    scored = []
    original = lm._score
    monkeypatch.setattr(lm, "_score", lambda pairs, d: scored.extend(pairs) or original(pairs, d))
    (windowed,) = lm.loglikelihood_rolling([request("loglikelihood_rolling", text)], disable_tqdm=True)
    assert len(scored) == 3 and sum(len(cont) for _, cont in scored) == len(ids)
    assert [t for _, cont in scored for t in cont] == ids
    assert all(len(ctx) + len(cont) <= 65 for ctx, cont in scored)
    assert windowed != pytest.approx(whole)  # later windows see only 64 tokens of context


def test_generate_until_is_greedy_and_stops(lm):
    tok = ByteTokenizer()
    prompt = "Fill in blank:\n"
    ids = tok.encode(prompt)
    greedy = []
    for _ in range(12):
        with torch.no_grad():
            nxt = int(lm.model(torch.tensor([ids + greedy]))[0, -1].argmax())
        if nxt == tok.eos_id:
            break
        greedy.append(nxt)
    expected = tok.decode(greedy)
    (text,) = lm.generate_until([request("generate_until", prompt, {"max_gen_toks": 12, "until": []})], True)
    assert text == expected
    if expected:
        stop = expected[len(expected) // 2]
        (cut,) = lm.generate_until([request("generate_until", prompt, {"max_gen_toks": 12, "until": [stop]})], True)
        assert cut == expected[: expected.index(stop)]


def test_harness_argv_adds_our_task_folder():
    assert harness_argv(["--model", "x"], "/t") == ["lm-eval", "run", "--model", "x", "--include_path", "/t"]
    assert harness_argv(["ls", "tasks"], "/t") == ["lm-eval", "ls", "tasks", "--include_path", "/t"]
    assert harness_argv(["run", "--include_path", "/mine"], "/t") == ["lm-eval", "run", "--include_path", "/mine"]


def check_results(results):
    tasks = [k for k in results if k.startswith("primitives_")]
    assert len(tasks) == 11
    for name in tasks:
        assert 0.0 <= results[name]["acc,none"] <= 1.0
    assert 0.0 <= results["reasoning_primitives"]["acc,none"] <= 1.0


def test_lm_eval_runs_the_local_primitives_tasks_by_model_name(tmp_path, monkeypatch):
    """`simple_evaluate(model="lightning_iter", ...)` finds our model type in lm-eval's registry and our YAML tasks."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    ckpt = write_checkpoint(tmp_path / "tiny.ckpt", tiny_model())
    manager = TaskManager(include_path=str(LM_EVAL_TASKS_DIR), include_defaults=False, metadata={"n_items": 4})
    out = simple_evaluate(
        model="lightning_iter",
        model_args=f"ckpt_path={ckpt},repeat=0:2x1",
        tasks=["reasoning_primitives"],
        task_manager=manager,
        limit=4,
        batch_size=8,
    )
    check_results(out["results"])
    # lm-eval scores " " + choice without our EOS terminator: with end_of_text=False both must agree exactly
    from lightning_iter.eval.primitives import evaluate_primitives
    from lightning_iter.loading import load_model

    loaded = load_model(ckpt, repeat="0:2x1")
    native = evaluate_primitives(loaded.model, loaded.tokenizer, n_items=4, end_of_text=False, progress=False)
    for name, acc in native["accuracy"].items():
        task, depth = name.split("@")
        assert out["results"][f"primitives_{task}_d{depth}"]["acc,none"] == pytest.approx(acc)


@pytest.mark.slow
def test_lightning_iter_lm_eval_command_end_to_end(tmp_path, monkeypatch):
    """The user's path: `lightning_iter lm_eval --model lightning_iter ...` (lm-eval indexes its own tasks: slow)."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ckpt = write_checkpoint(tmp_path / "tiny.ckpt", tiny_model())
    out = tmp_path / "lm_eval_out"
    status = cli_main(
        [
            "lm_eval",
            "--model",
            "lightning_iter",
            "--model_args",
            f"ckpt_path={ckpt}",
            "--tasks",
            "reasoning_primitives",
            "--limit",
            "2",
            "--batch_size",
            "8",
            "--output_path",
            str(out),
            "--metadata",
            '{"n_items": 2}',
        ]
    )
    assert status == 0
    (results_file,) = list(out.rglob("results_*.json"))
    check_results(json.loads(results_file.read_text())["results"])
