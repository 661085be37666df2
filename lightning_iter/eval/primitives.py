"""The reasoning-primitive benchmark: fixed, seeded 5-shot multiple-choice test sets and their scoring.

Seed 000 App. I.1 / seed 004 App. C (after Saunshi et al. 2024). Problems come from the generators of
`lightning_iter.data.primitives`; this module only turns them into multiple-choice items and scores
them. Each choice is scored by the summed log-likelihood of `" " + choice` given the few-shot prompt
(the training text writes `prompt + " " + answer`), the highest wins; 10 choices for copying and 5 for
variable assignment (chance 10 % / 20 %). `scoring` names the protocol (`SCORING`): `lm_eval` (default) is
the papers', lm-evaluation-harness's multiple choice (seed 004 App. C), the continuation alone; `eos` also
scores the tokenizer's EOS after the choice, which ends every solved query in the training stream: without
it a choice that is a prefix of another ("6" and "62", "car" and "card") always scores at least as high,
since P(" 62") = P(" 6") P("2" | " 6"). Every output of an `eos` evaluation names it.

Test items draw from the rng namespace `"primitives-test:{seed}:{task}:{depth}:{index}"`, which is
disjoint from the training stream's `"train:{seed}:{index}"` and holdout `"val:{seed}:{index}"`
(`data/stream.py`), so no test item is generated from a training rng; tests also check that no test
query occurs in a large sample of training documents.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn
from torchmetrics import MeanMetric

from ..data.primitives import ASSIGN_DEPTHS, COPY_TASKS, MAX_SHOTS, TASKS, Problem, allowed_depths, generate_problem
from ..data.tokenizer import Tokenizer
from ..errors import ConfigError, check_choice, check_int
from . import report
from .protocol import DEFAULT_ITEMS, TEST_NAMESPACE
from .scoring import context_window, encode_pair, score_requests

SHOT_SEPARATOR = "\n\n"
SCORING = ("lm_eval", "eos")
"""Choice scoring: `lm_eval` (default, the papers' harness: `" " + choice`), `eos` (`" " + choice` + EOS)."""

__all__ = ["Example", "make_example", "test_set", "task_keys", "chance", "evaluate_primitives", "key", "SCORING"]


@dataclass(frozen=True)
class Example:
    """One multiple-choice item: `prompt` (few-shot text ending with `->`), `choices`, and `answer` (index)."""

    task: str
    depth: int
    shots: int
    prompt: str
    choices: tuple[str, ...]
    answer: int
    query: Problem

    @property
    def target(self) -> str:
        """The correct choice's text."""
        return self.choices[self.answer]


def key(task: str, depth: int) -> str:
    """The result key of a task at a depth, e.g. `assign_code@1`."""
    return f"{task}@{depth}"


def _check(task: str, depth: int, shots: int) -> None:
    check_choice("task", task, TASKS, allowed=f"it is not a reasoning primitive: choose from {', '.join(TASKS)}")
    if isinstance(depth, bool) or depth not in allowed_depths(task):
        raise ConfigError(f"depth={depth!r} is not valid for task {task!r}: allowed depths are {allowed_depths(task)}")
    check_int("shots", shots, 0)


def make_example(
    task: str, depth: int = 0, shots: int = MAX_SHOTS, seed: int = 0, index: int = 0, namespace: str = TEST_NAMESPACE
) -> Example:
    """Item `index` of the test set `seed` of `task` at `depth`, with `shots` solved examples before the query.

    The query and the solved examples come from separate rngs, so the same item keeps its query for any
    number of shots (what the in-context-learning sweep varies). Choices are shuffled deterministically.
    `namespace` selects another rng family (the SFT sweep draws its training items from its own).
    """
    _check(task, depth, shots)
    name = f"{namespace}:{seed}:{task}:{depth}:{index}"
    query = generate_problem(task, random.Random(name + ":query"), depth)
    shot_rng = random.Random(name + ":shots")
    solved = [generate_problem(task, shot_rng, depth).text() for _ in range(shots)]
    prompt = SHOT_SEPARATOR.join([*solved, query.prompt])
    choices = [query.answer, *query.distractors]
    random.Random(name + ":choices").shuffle(choices)
    return Example(task, depth, shots, prompt, tuple(choices), choices.index(query.answer), query)


def test_set(
    task: str, depth: int = 0, n_items: int = DEFAULT_ITEMS, shots: int = MAX_SHOTS, seed: int = 0
) -> list[Example]:
    """The fixed test set: items 0..n_items-1 of `make_example(task, depth, shots, seed, index)`."""
    check_int("n_items", n_items, 1)
    return [make_example(task, depth, shots, seed, index=i) for i in range(n_items)]


test_set.__test__ = False  # not a pytest test despite the name


def task_keys(tasks: Iterable[str] | None = None, depths: Iterable[int] | None = None) -> list[tuple[str, int]]:
    """(task, depth) pairs to evaluate: every task at each requested depth it allows.

    Copying tasks have only depth 0 and are evaluated there whatever `depths` says; a depth no task
    allows is an error.
    """
    tasks = list(TASKS if tasks is None else tasks)
    for task in tasks:
        if task not in TASKS:
            raise ConfigError(f"--tasks contains {task!r}: choose from {', '.join(TASKS)}")
    depths = list(ASSIGN_DEPTHS if depths is None else depths)
    for depth in depths:
        if isinstance(depth, bool) or depth not in ASSIGN_DEPTHS:
            raise ConfigError(f"--depths contains {depth!r}: allowed depths are {ASSIGN_DEPTHS}")
    if not tasks or not depths:
        raise ConfigError("--tasks and --depths must each name at least one value")
    pairs: list[tuple[str, int]] = []
    for task in dict.fromkeys(tasks):
        chosen = (0,) if task in COPY_TASKS else tuple(d for d in dict.fromkeys(depths))
        pairs += [(task, d) for d in chosen]
    return pairs


def chance(task: str) -> float:
    """Accuracy of a uniform guess: 1/10 for copying, 1/5 for variable assignment."""
    return 1.0 / (1 + len(make_example(task, 0, 0).query.distractors))


def score_examples(
    model: nn.Module,
    tokenizer: Tokenizer,
    examples: Sequence[Example],
    *,
    batch_size: int = 32,
    progress: bool = False,
    desc: str = "primitives",
    scoring: str = "lm_eval",
    share_prompts: bool = True,
) -> tuple[list[int], list[bool]]:
    """Predicted choice index of every example and whether its prompt had to be cut to fit the model's window.

    `scoring` is one of `SCORING` (see above); `share_prompts` scores each prompt once for all its choices
    (`eval.scoring.score_requests`; False: one full row per choice, same scores within float tolerance).
    """
    check_choice("scoring", scoring, SCORING)
    requests, owners = [], []
    end = [tokenizer.eos_id] if scoring == "eos" else []
    for n, example in enumerate(examples):
        for choice in example.choices:
            context, continuation = encode_pair(tokenizer, example.prompt, " " + choice)
            requests.append((context, continuation + end))
            owners.append(n)
    pad = tokenizer.pad_id if tokenizer.pad_id is not None else 0
    scores = score_requests(
        model,
        requests,
        batch_size=batch_size,
        max_len=context_window(model),
        pad_id=pad,
        progress=progress,
        desc=desc,
        share_prompts=share_prompts,
    )
    best: list[tuple[float, int]] = [(-float("inf"), -1)] * len(examples)
    offsets = [0] * len(examples)
    truncated = [False] * len(examples)
    for owner, score in zip(owners, scores):
        choice = offsets[owner]
        offsets[owner] += 1
        if score.logprob > best[owner][0]:
            best[owner] = (score.logprob, choice)
        truncated[owner] |= score.truncated
    return [b[1] for b in best], truncated


def evaluate_primitives(
    model: nn.Module,
    tokenizer: Tokenizer,
    tasks: Sequence[str] | None = None,
    depths: Sequence[int] | None = None,
    n_items: int = DEFAULT_ITEMS,
    shots: int = MAX_SHOTS,
    batch_size: int = 32,
    seed: int = 0,
    progress: bool = True,
    scoring: str = "lm_eval",
    aggregate: str = "depth0",
    share_prompts: bool = True,
) -> dict[str, Any]:
    """Multiple-choice accuracy per `task@depth`, the task columns and the seeds' "Reasoning Primitives" mean.

    The papers' columns are the five tasks at depth 0 and `mean` is their mean (seed 004 Table 6, seed 000
    Table 1); `aggregate="all_depths"` makes each column the mean over its depths instead (`report.AGGREGATES`).
    If no task ran at depth 0, `mean` averages every `task@depth`; `mean_of` always lists the keys behind it.
    Returns `{"accuracy": {key: acc}, "mean", "mean_of", "per_task": {task: acc}, "predictions": {key: [choice
    index per item]}, "n_items", "chance": {key: p}, "shots", "seed", "scoring", "aggregate", "truncated": {key:
    fraction of prompts cut to the model window}}`.
    """
    check_choice("aggregate", aggregate, report.AGGREGATES)
    pairs = task_keys(tasks, depths)
    sets = {key(task, depth): test_set(task, depth, n_items, shots, seed) for task, depth in pairs}
    examples = [example for items in sets.values() for example in items]
    predicted, cut = score_examples(
        model,
        tokenizer,
        examples,
        batch_size=batch_size,
        progress=progress,
        desc="primitives",
        scoring=scoring,
        share_prompts=share_prompts,
    )
    accuracy, chances, truncated, predictions = {}, {}, {}, {}
    start = 0
    for (task, _), (name, items) in zip(pairs, sets.items()):
        metric = MeanMetric()
        chosen = predicted[start : start + len(items)]
        for example, choice in zip(items, chosen):
            metric.update(float(choice == example.answer))
        accuracy[name] = float(metric.compute())
        chances[name] = chance(task)
        truncated[name] = sum(cut[start : start + len(items)]) / len(items)
        predictions[name] = chosen
        start += len(items)
    columns = report.per_task(accuracy, aggregate)
    mean = report.task_mean(accuracy, aggregate)
    mean_of = list(accuracy) if aggregate == "all_depths" else [key(task, 0) for task in columns]
    if mean is None:
        mean, mean_of = sum(accuracy.values()) / len(accuracy), list(accuracy)
    return {
        "accuracy": accuracy,
        "mean": mean,
        "mean_of": mean_of,
        "per_task": columns,
        "predictions": predictions,
        "n_items": n_items,
        "chance": chances,
        "accuracy_unit": "fraction",  # accuracy, mean, per_task and chance are 0..1; tables and figures show %
        "shots": shots,
        "seed": seed,
        "scoring": scoring,
        "aggregate": aggregate,
        "truncated": truncated,
    }
