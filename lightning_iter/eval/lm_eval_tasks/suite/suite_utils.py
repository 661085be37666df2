"""lm-eval hooks of the 22-task suite: the local-data loader and per-item metrics (`lightning_iter.eval.suite`)."""

from __future__ import annotations

from typing import Any


def load(suite_task: str, **metadata: Any) -> Any:
    """`{"test": Dataset}` of the task's docs, read from the user's local copy (no download)."""
    import datasets

    from lightning_iter.eval.suite import load_docs

    return datasets.DatasetDict({"test": datasets.Dataset.from_list(load_docs(suite_task, metadata))})


def qa_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """SQuAD F1 / exact match of the generation against every gold answer (max)."""
    from lightning_iter.eval.suite import qa_f1

    return qa_f1(results[0], doc["answers"])


def drop_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """lm-eval's own DROP F1 / exact match (numbers and multi-span answers)."""
    from lm_eval.tasks.drop.utils import process_results

    return process_results(doc, results)


def math_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """Accuracy: the first number generated equals the answer."""
    from lightning_iter.eval.suite import number_match

    return {"acc": number_match(results[0], doc["target"])}
