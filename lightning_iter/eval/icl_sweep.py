"""In-context-learning sweep (seed 000 §5, Fig. 3 left): primitive accuracy against the number of shots.

For each task and depth the shot counts run from 0 up to the context limit: the most solved examples
for which the few-shot prompt and its longest choice still fit the model window (longer prompts
would be cut from the left, which removes examples instead of adding them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn
from tqdm.auto import tqdm

from ..data.tokenizer import Tokenizer
from ..errors import ConfigError, check_choice, check_ints
from .primitives import SCORING, chance, evaluate_primitives, key, make_example, task_keys
from .scoring import context_window

MAX_SWEEP_SHOTS = 64


def max_shots_that_fit(
    tokenizer: Tokenizer, task: str, depth: int, window: int, seed: int = 0, probe: int = 8, scoring: str = "lm_eval"
) -> int:
    """Largest shot count whose prompts (checked on `probe` items) plus choice (and EOS under `eos` scoring) plus one
    token of headroom fit in `window` tokens."""
    best = -1
    for shots in range(MAX_SWEEP_SHOTS + 1):
        longest = 0
        for index in range(probe):
            example = make_example(task, depth, shots, seed, index)
            choice = max(len(tokenizer.encode(" " + c)) for c in example.choices)
            longest = max(longest, len(tokenizer.encode(example.prompt)) + choice + 1 + (scoring == "eos"))
        if longest > window:
            break
        best = shots
    return best


def default_shots(limit: int) -> list[int]:
    """0, 1, 2, 4, 8, ... below `limit`, then `limit` itself."""
    points, k = [0], 1
    while k < limit:
        points.append(k)
        k *= 2
    return sorted(set(points + [limit])) if limit >= 0 else []


def icl_sweep(
    model: nn.Module,
    tokenizer: Tokenizer,
    tasks: Sequence[str] | None = None,
    depths: Sequence[int] | None = None,
    shots: Sequence[int] | None = None,
    n_items: int = 100,
    batch_size: int = 32,
    seed: int = 0,
    progress: bool = True,
    scoring: str = "lm_eval",
) -> dict[str, Any]:
    """`{"window", "limit": {key: max shots}, "curves": {key: [[shots, accuracy], ...]}, "chance", "n_items",
    "scoring"}` (`scoring`: one of `eval.primitives.SCORING`).

    `shots` (optional) fixes the shot counts; counts beyond a task's context limit are skipped for it.
    """
    check_choice("--scoring", scoring, SCORING)
    window = context_window(model)
    pairs = task_keys(tasks, depths)
    if shots:  # `--shots none` (an empty list) measures nothing and writes empty curves
        check_ints("--shots", shots, 0)
    limits, plan = {}, {}
    for task, depth in pairs:
        limit = max_shots_that_fit(tokenizer, task, depth, window, seed, scoring=scoring)
        if limit < 0:
            raise ConfigError(
                f"even a 0-shot prompt of {key(task, depth)} does not fit the model window of {window} tokens"
            )
        limits[key(task, depth)] = limit
        plan[key(task, depth)] = [
            s for s in (default_shots(limit) if shots is None else sorted(set(shots))) if s <= limit
        ]
    curves: dict[str, list[list[float]]] = {}
    total = sum(len(v) for v in plan.values())
    bar = tqdm(total=total, desc="icl sweep", disable=not progress)
    for task, depth in pairs:
        name = key(task, depth)
        curves[name] = []
        for k in plan[name]:
            result = evaluate_primitives(
                model,
                tokenizer,
                [task],
                [depth],
                n_items=n_items,
                shots=k,
                batch_size=batch_size,
                seed=seed,
                progress=False,
                scoring=scoring,
            )
            curves[name].append([k, result["accuracy"][name]])
            bar.update(1)
    bar.close()
    return {
        "window": window,
        "limit": limits,
        "curves": curves,
        "chance": {key(t, d): chance(t) for t, d in pairs},
        "accuracy_unit": "fraction",  # curves and chance are 0..1; tables and figures show %
        "n_items": n_items,
        "seed": seed,
        "scoring": scoring,
    }
