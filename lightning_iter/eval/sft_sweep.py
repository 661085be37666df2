"""Supervised fine-tuning sweep (seed 000 §5, Fig. 3 right; App. H.1): accuracy after fine-tuning on N examples.

For each N, a fresh copy of the model is fine-tuned on N few-shot items of one variable-assignment task
(default `assign_code`), split equally over the chosen depths (default 1 and 2), with the loss on the
answer tokens and EOS only, then evaluated on the fixed test sets of those depths. Training items come
from their own rng namespace (`primitives-sft`), so they never coincide with test items.
`untie=True` is the seeds' "untied during fine-tuning" variant of looped models: every plan position
gets its own copy of its layer before training (App. H.1, Fig. 12).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from ..data.primitives import ASSIGN_TASKS
from ..data.tokenizer import Tokenizer
from ..depth.transaction import untie_layers
from ..errors import ConfigError, check_choice, check_ints
from ..model.loss import IGNORE_INDEX
from .primitives import SCORING, chance, evaluate_primitives, key, make_example
from .scoring import context_window, encode_pair, model_device

SFT_NAMESPACE = "primitives-sft"


def sft_examples(task: str, depths: Sequence[int], n: int, shots: int, seed: int) -> list[Any]:
    """`n` training items, `n / len(depths)` per depth (n must divide evenly), shuffled."""
    if n % len(depths):
        raise ConfigError(f"--sizes value {n} does not split equally over depths {list(depths)}")
    items = [
        make_example(task, d, shots, seed, i, namespace=SFT_NAMESPACE) for d in depths for i in range(n // len(depths))
    ]
    random.Random(f"{SFT_NAMESPACE}:{seed}:order:{n}").shuffle(items)
    return items


def sft_batch(tokenizer: Tokenizer, items: Sequence[Any], window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets (prompt positions = -100) of solved items, left-cut to the window and right-padded."""
    rows = []
    for item in items:
        context, answer = encode_pair(tokenizer, item.prompt, " " + item.target)
        full = (context + answer + [tokenizer.eos_id])[-(window + 1) :]
        rows.append((full, len(answer) + 1))
    width = max(len(r[0]) for r in rows) - 1
    pad = tokenizer.pad_id if tokenizer.pad_id is not None else 0
    inputs = torch.full((len(rows), width), pad, dtype=torch.long)
    targets = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    for r, (ids, n_answer) in enumerate(rows):
        inputs[r, : len(ids) - 1] = torch.tensor(ids[:-1])
        targets[r, len(ids) - 1 - n_answer : len(ids) - 1] = torch.tensor(ids[-n_answer:])
    return inputs, targets


def fine_tune(
    model: nn.Module,
    tokenizer: Tokenizer,
    items: Sequence[Any],
    *,
    epochs: int = 3,
    batch_size: int = 16,
    lr: float = 3e-4,
    seed: int = 0,
    progress: bool = False,
) -> list[float]:
    """AdamW on the answer-token loss for `epochs` passes over `items`; returns the loss of every step."""
    window = context_window(model)
    device = model_device(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    rng = random.Random(seed)
    losses = []
    model.train()
    steps = epochs * -(-len(items) // batch_size)
    bar = tqdm(total=steps, desc=f"sft N={len(items)}", disable=not progress, leave=False)
    for _ in range(epochs):
        order = list(items)
        rng.shuffle(order)
        for start in range(0, len(order), batch_size):
            inputs, targets = sft_batch(tokenizer, order[start : start + batch_size], window)
            loss = model.loss(inputs.to(device), targets.to(device), ignore_index=IGNORE_INDEX)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            losses.append(float(loss.detach()))
            bar.update(1)
    bar.close()
    model.eval()
    return losses


def sft_sweep(
    model: nn.Module,
    tokenizer: Tokenizer,
    sizes: Sequence[int] = (64, 128, 256),
    task: str = "assign_code",
    depths: Sequence[int] = (1, 2),
    shots: int = 5,
    epochs: int = 3,
    batch_size: int = 16,
    lr: float = 3e-4,
    n_items: int = 100,
    untie: bool = False,
    seed: int = 0,
    progress: bool = True,
    scoring: str = "lm_eval",
) -> dict[str, Any]:
    """Accuracy per depth before fine-tuning (N=0) and after fine-tuning a fresh copy on each N in `sizes`.

    Training always ends each answer with EOS (as the training stream); `scoring` is how the tests are scored.

    Returns `{"sizes": [0, *sizes], "curves": {"task@d": [[N, acc], ...]}, "final_loss": {N: loss}, ...}`.
    """
    if task not in ASSIGN_TASKS:
        raise ConfigError(
            f"--task={task!r} is not allowed: the SFT sweep uses a variable-assignment task {ASSIGN_TASKS}"
        )
    check_ints("--sizes", sizes, 1)
    check_choice("--scoring", scoring, SCORING)

    def evaluate(m: nn.Module) -> dict[str, float]:
        return evaluate_primitives(
            m,
            tokenizer,
            [task],
            list(depths),
            n_items=n_items,
            shots=shots,
            batch_size=batch_size * 2,
            seed=seed,
            progress=False,
            scoring=scoring,
        )["accuracy"]

    names = [key(task, d) for d in depths]
    before = evaluate(model)
    curves = {name: [[0, before[name]]] for name in names}
    final_loss: dict[int, float] = {}
    for n in tqdm(sorted(set(sizes)), desc="sft sweep", disable=not progress):
        tuned = copy.deepcopy(model)
        if untie:
            untie_layers(tuned)
        losses = fine_tune(
            tuned,
            tokenizer,
            sft_examples(task, depths, n, shots, seed),
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            progress=progress,
        )
        final_loss[n] = losses[-1]
        after = evaluate(tuned)
        for name in names:
            curves[name].append([n, after[name]])
        del tuned
    return {
        "task": task,
        "depths": list(depths),
        "sizes": [0, *sorted(set(sizes))],
        "curves": curves,
        "final_loss": final_loss,
        "chance": {name: chance(task) for name in names},
        "accuracy_unit": "fraction",  # curves and chance are 0..1; tables and figures show %
        "untie": untie,
        "plan": list(model.plan),
        "shots": shots,
        "epochs": epochs,
        "lr": lr,
        "n_items": n_items,
        "seed": seed,
        "scoring": scoring,
    }
