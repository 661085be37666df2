"""Datasets of the reasoning-primitive lm-eval tasks, generated locally (no download) from the fixed test sets."""

from __future__ import annotations

from typing import Any

from lm_eval.api.samplers import ContextSampler

from lightning_iter.data.primitives import MAX_SHOTS as SHOTS  # the template's num_fewshot says the same
from lightning_iter.errors import ConfigError  # one line from `lightning_iter lm_eval`, not a traceback
from lightning_iter.eval.protocol import DEFAULT_ITEMS


def load(task: str, depth: int = 0, n_items: int = DEFAULT_ITEMS, shots: int = SHOTS, seed: int = 0, **_: Any) -> Any:
    """`{"test": Dataset}` of `prompt`, `choices`, `answer` rows: `lightning_iter.eval.primitives.test_set`."""
    import datasets

    from lightning_iter.eval.primitives import test_set

    if int(shots) != SHOTS:
        raise ConfigError(
            f"metadata shots={shots} is not allowed: the lm-eval primitive tasks are {SHOTS}-shot (their num_fewshot); "
            "`lightning_iter icl_sweep` measures other shot counts"
        )
    rows = [
        {"prompt": e.prompt, "choices": list(e.choices), "answer": e.answer}
        for e in test_set(task, int(depth), int(n_items), int(shots), int(seed))
    ]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


class InPromptShots(ContextSampler):
    """The solved examples are already in each item's prompt: lm-eval adds none, and its n-shot reads 5."""

    def sample(self, n: int, eval_doc: Any = None, df: Any = None, **kwargs: Any) -> list:
        if n != SHOTS:
            raise ConfigError(
                f"--num_fewshot={n} is not allowed for the reasoning-primitive tasks: each prompt carries {SHOTS} "
                "solved examples (seed 000 App. I.1); leave --num_fewshot unset (`lightning_iter icl_sweep` varies it)"
            )
        return []
