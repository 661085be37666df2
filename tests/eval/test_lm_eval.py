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


GROUPS = {
    "reasoning_primitives": [f"primitives_{t}_d0" for t in ("copy_random", "copy_real", "assign_basic")]
    + [f"primitives_{t}_d0" for t in ("assign_code", "assign_math")],
    "reasoning_primitives_deep": [f"primitives_assign_{t}_d{d}" for t in ("basic", "code", "math") for d in (1, 2)],
}


def check_results(results):
    """All 11 subtasks scored; each group is the equal-weight mean of its own subtasks (the seeds' Mean is the five
    depth-0 tasks, seed 004 Table 6; depths 1 and 2 are a group of their own)."""
    tasks = [k for k in results if k.startswith("primitives_")]
    assert len(tasks) == 11
    for name in tasks:
        assert 0.0 <= results[name]["acc,none"] <= 1.0
    for group, members in GROUPS.items():
        expected = sum(results[m]["acc,none"] for m in members) / len(members)
        assert results[group]["acc,none"] == pytest.approx(expected)


def run_harness(ckpt, n_items, repeat=None, log_samples=False):
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(LM_EVAL_TASKS_DIR), include_defaults=False, metadata={"n_items": n_items})
    return simple_evaluate(
        model="lightning_iter",
        model_args=f"ckpt_path={ckpt}" + (f",repeat={repeat}" if repeat else ""),
        tasks=list(GROUPS),
        task_manager=manager,
        limit=n_items,
        batch_size=8,
        log_samples=log_samples,
    )


def harness_choices(samples):
    """Per lm-eval task, the index of the highest-scoring choice of each item (lm-eval's `acc` rule: argmax)."""
    choices = {}
    for task, rows in samples.items():
        rows = sorted(rows, key=lambda r: r["doc_id"])
        choices[task] = [
            max(range(len(r["filtered_resps"])), key=lambda c: float(r["filtered_resps"][c][0])) for r in rows
        ]
    return choices


def test_lm_eval_runs_the_local_primitives_tasks_by_model_name(tmp_path, monkeypatch):
    """`simple_evaluate(model="lightning_iter", ...)` finds our model type in lm-eval's registry and our YAML tasks."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    ckpt = write_checkpoint(tmp_path / "tiny.ckpt", tiny_model())
    out = run_harness(ckpt, 4, repeat="0:2x1")
    check_results(out["results"])
    # lm-eval scores " " + choice without an EOS, which is our default scoring: both must agree exactly
    from lightning_iter.eval.primitives import evaluate_primitives
    from lightning_iter.loading import load_model

    loaded = load_model(ckpt, repeat="0:2x1")
    native = evaluate_primitives(loaded.model, loaded.tokenizer, n_items=4, progress=False)
    for name, acc in native["accuracy"].items():
        task, depth = name.split("@")
        assert out["results"][f"primitives_{task}_d{depth}"]["acc,none"] == pytest.approx(acc)
    assert out["results"]["reasoning_primitives"]["acc,none"] == pytest.approx(native["mean"])


def test_eval_command_and_lm_eval_choose_the_same_answer_on_every_item(tmp_path, monkeypatch, capsys):
    """`lightning_iter eval` (default scoring, shared prompts) and lm-eval pick the same choice on each item."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    ckpt = write_checkpoint(tmp_path / "tiny.ckpt", tiny_model(max_seq_len=2048, seed=5))  # no 5-shot prompt is cut
    n_items = 6
    argv = ["eval", "--ckpt_path", str(ckpt), "--n_items", str(n_items), "--progress", "false"]
    assert cli_main([*argv, "--out", str(tmp_path / "eval")]) == 0
    ours = json.loads((tmp_path / "eval" / "results.json").read_text())["primitives"]
    assert ours["scoring"] == "lm_eval" and not any(ours["truncated"].values())
    out = run_harness(ckpt, n_items, log_samples=True)
    theirs = harness_choices(out["samples"])
    for name, predicted in ours["predictions"].items():
        task, depth = name.split("@")
        assert predicted == theirs[f"primitives_{task}_d{depth}"], name
        assert ours["accuracy"][name] == pytest.approx(out["results"][f"primitives_{task}_d{depth}"]["acc,none"])
    assert ours["mean"] == pytest.approx(out["results"]["reasoning_primitives"]["acc,none"])
    # the check can fail: the EOS-terminated scoring picks other choices on some items
    assert cli_main([*argv, "--scoring", "eos", "--out", str(tmp_path / "eos")]) == 0
    eos = json.loads((tmp_path / "eos" / "results.json").read_text())["primitives"]
    assert eos["scoring"] == "eos" and eos["predictions"] != ours["predictions"]
    assert "scoring eos" in (tmp_path / "eos" / "primitives.md").read_text()


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
            "reasoning_primitives,reasoning_primitives_deep",
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


def _one_task(ckpt, num_fewshot=None):
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(LM_EVAL_TASKS_DIR), include_defaults=False, metadata={"n_items": 2})
    return simple_evaluate(
        model="lightning_iter",
        model_args=f"ckpt_path={ckpt}",
        tasks=["primitives_assign_basic_d1"],
        task_manager=manager,
        limit=2,
        batch_size=8,
        log_samples=True,
        num_fewshot=num_fewshot,
    )


def test_primitive_tasks_report_their_five_in_prompt_shots_and_add_none(tmp_path, monkeypatch):
    """lm-eval's n-shot column reads 5 (the prompt's solved examples), and lm-eval puts nothing before the prompt."""
    from lightning_iter.eval.primitives import test_set

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    ckpt = write_checkpoint(tmp_path / "tiny.ckpt", tiny_model())
    out = _one_task(ckpt)
    assert out["n-shot"]["primitives_assign_basic_d1"] == 5
    items = test_set("assign_basic", 1, 2, 5, 0)
    rows = sorted(out["samples"]["primitives_assign_basic_d1"], key=lambda r: r["doc_id"])
    assert [r["arguments"][0][0] for r in rows] == [e.prompt for e in items]
    assert items[0].prompt.count("\n") >= 5  # the five solved examples are in the prompt itself


def test_primitive_tasks_reject_another_num_fewshot(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    ckpt = write_checkpoint(tmp_path / "tiny.ckpt", tiny_model())
    from lightning_iter.errors import ConfigError  # `lightning_iter lm_eval` prints it as one line

    with pytest.raises(ConfigError, match=r"--num_fewshot=3 is not allowed for the reasoning-primitive tasks"):
        _one_task(ckpt, num_fewshot=3)
