"""The 22-task suite (seed 000 App. A): runs end to end on tiny fixture datasets; categories are their tasks' means."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from lm_eval import simple_evaluate
from lm_eval.api.model import LM
from lm_eval.tasks import TaskManager

from lightning_iter.cli import main as cli_main
from lightning_iter.errors import ConfigError
from lightning_iter.eval import suite
from lightning_iter.eval.lm_eval import LM_EVAL_TASKS_DIR
from tests.eval.checkpoints import tiny_model, write_checkpoint

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "suite"
LIMIT = 3


def run_suite(model, model_args=None, root=FIXTURES):
    manager = TaskManager(
        include_path=str(LM_EVAL_TASKS_DIR),
        include_defaults=False,
        metadata={"n_items": LIMIT, "suite_root": str(root)},
    )
    out = simple_evaluate(
        model=model, model_args=model_args, tasks=[suite.SUITE_GROUP], task_manager=manager, limit=LIMIT, batch_size=8
    )
    return out["results"]


def check_categories(results):
    """Every task has its category's metric; every category number is the unweighted mean of its tasks."""
    assert len([t for c in suite.CATEGORIES for t in c.tasks]) == 22
    means = {}
    for category in suite.CATEGORIES:
        key = f"{category.metric},none"
        values = [results[task][key] for task in category.tasks]
        assert all(0.0 <= v <= 1.0 for v in values), (category.key, values)
        assert results[category.group][key] == pytest.approx(sum(values) / len(values)), category.key
        means[category.key] = results[category.group][key]
    assert suite.SUITE_GROUP in results
    return means


def test_whole_suite_runs_end_to_end_on_a_tiny_checkpoint(tmp_path, monkeypatch):
    """Our lm-eval model type on a tiny checkpoint: all 22 tasks produce their metric (about 3 s)."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    ckpt = write_checkpoint(tmp_path / "tiny.ckpt", tiny_model())
    results = run_suite("lightning_iter", f"ckpt_path={ckpt},max_gen_toks=4")
    check_categories(results)
    assert results["suite_hellaswag"]["acc_norm,none"] is not None


class OracleLM(LM):
    """Answers the gold answer on chosen docs and something wrong elsewhere, so every score is known in advance."""

    def __init__(self, right: dict[str, tuple[str, bool]]):
        super().__init__()
        self.right = right  # doc prompt -> (gold continuation, answer it right?)

    def _doc(self, context):
        found = [p for p in self.right if context.endswith(p)]
        return self.right[max(found, key=len)] if found else (None, False)

    def generate_until(self, requests, disable_tqdm=False):
        out = []
        for r in requests:
            gold, right = self._doc(r.args[0])
            out.append(f" {gold}\n" if right else " xyzzy\n")
        return out

    def loglikelihood(self, requests, disable_tqdm=False):
        out = []
        for r in requests:
            context, continuation = r.args
            gold, right = self._doc(context)
            good = gold is not None and (continuation.strip() == gold.strip()) == right
            out.append((0.0 if good else -5.0, good))
        return out

    def loglikelihood_rolling(self, requests, disable_tqdm=False):
        return [0.0 for _ in requests]


def gold_of(task, doc):
    if "choices" in doc:
        return doc["choices"][doc["gold"]]
    return doc["target"]


def test_metrics_are_the_papers_and_categories_average_their_tasks(monkeypatch):
    """An oracle right on a known subset of each task's first items: each task scores exactly that fraction."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    metadata = {"suite_root": str(FIXTURES)}
    right, expected = {}, {}
    for task in suite.SOURCES:
        docs = suite.load_docs(task, metadata)[:LIMIT]
        chosen = {0, 2} if len(task) % 2 else {1}
        for n, doc in enumerate(docs):
            right[doc["prompt"]] = (gold_of(task, doc), n in chosen)
        expected[task] = len(chosen) / len(docs)
    results = run_suite(OracleLM(right))
    for task, value in expected.items():
        metric = "f1" if task in suite.CATEGORIES[0].tasks + suite.CATEGORIES[1].tasks else "acc"
        assert results[task][f"{metric},none"] == pytest.approx(value), task
    means = check_categories(results)
    open_book = suite.CATEGORIES[0].tasks
    assert means["open_book_qa"] == pytest.approx(sum(expected[t] for t in open_book) / len(open_book))


def test_qa_f1_and_number_match_by_hand():
    assert suite.qa_f1("The red house.\nmore", ["red house"]) == {"f1": 1.0, "em": 1.0}
    assert suite.qa_f1("red car", ["blue", "red house"])["f1"] == pytest.approx(0.5)  # P = R = 1/2
    assert suite.qa_f1("nothing", ["red house"]) == {"f1": 0.0, "em": 0.0}
    assert suite.number_match(" She has 1,234 apples", "1234") == 1.0
    assert suite.number_match(" 12.5 then 3", "12.5") == 1.0
    assert suite.number_match(" 13", "12.5") == 0.0
    assert suite.number_match(" no number", "1") == 0.0


def test_missing_datasets_are_named_in_one_line_before_any_model(tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(FIXTURES, root)
    shutil.rmtree(root / "drop")
    (root / "svamp" / "test.jsonl").unlink()
    argv = ["lm_eval", "--model", "lightning_iter", "--model_args", "ckpt_path=/no/such.ckpt"]
    status = cli_main([*argv, "--tasks", "lightning_iter_suite", "--metadata", json.dumps({"suite_root": str(root)})])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1, err
    assert "2 suite dataset(s) missing" in err
    assert f"suite_drop: {root}/drop/validation.{{jsonl,json,parquet}}" in err
    assert f"suite_svamp: {root}/svamp/test.{{jsonl,json,parquet}}" in err and "no/such.ckpt" not in err
    # one category only checks its own datasets; primitives need none
    assert suite.missing_datasets(["suite_open_book_qa"], {"suite_root": str(root)})[0].startswith("suite_drop:")
    assert suite.missing_datasets(["reasoning_primitives", "reasoning_primitives_deep"], {}) == []


def test_per_task_override_and_bad_rows(tmp_path):
    rows = tmp_path / "mine.jsonl"
    rows.write_text(json.dumps({"Body": "x", "Question": "y", "Answer": 4.0}) + "\n")
    docs = suite.load_docs("suite_svamp", {"suite_paths": {"svamp": str(rows)}})
    assert docs == [{"prompt": "x\nQuestion:y\nAnswer:", "answers": ["4"], "target": "4"}]
    rows.write_text(json.dumps({"body": "x"}) + "\n")
    with pytest.raises(ConfigError, match=r"suite_svamp: a row of its data is not in the ChilleD/SVAMP format"):
        suite.load_docs("suite_svamp", {"suite_paths": {"svamp": str(rows)}})
    rows.write_text("{not json\n")
    with pytest.raises(ConfigError, match=r"suite_svamp: .*mine.jsonl is not a readable"):
        suite.load_docs("suite_svamp", {"suite_paths": {"svamp": str(rows)}})
    with pytest.raises(ConfigError, match=r"--metadata=.\[1\]. is not allowed: it must be a JSON object"):
        suite.check_harness_argv(["--tasks", "suite_svamp", "--metadata", "[1]"])


def test_a_dataset_in_the_hf_cache_counts_as_present(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path))
    (tmp_path / "EleutherAI___drop").mkdir()
    (tmp_path / "mandarjoshi___trivia_qa" / "other_config").mkdir(parents=True)
    missing = suite.missing_datasets(["suite_drop", "suite_triviaqa", "suite_mawps_addsub"], {})
    assert [m.split(":")[0] for m in missing] == ["suite_triviaqa", "suite_mawps_addsub"]  # rc.nocontext not cached
    assert "or the HF datasets cache of mandarjoshi/trivia_qa" in missing[0] and "HF" not in missing[1]
