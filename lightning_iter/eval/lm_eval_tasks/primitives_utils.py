"""Datasets of the reasoning-primitive lm-eval tasks, generated locally (no download) from the fixed test sets."""

from __future__ import annotations

from typing import Any


def load(task: str, depth: int = 0, n_items: int = 1000, shots: int = 5, seed: int = 0, **_: Any) -> Any:
    """`{"test": Dataset}` of `prompt`, `choices`, `answer` rows: `lightning_iter.eval.primitives.test_set`."""
    import datasets

    from lightning_iter.eval.primitives import test_set

    rows = [
        {"prompt": e.prompt, "choices": list(e.choices), "answer": e.answer}
        for e in test_set(task, int(depth), int(n_items), int(shots), int(seed))
    ]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})
