"""Multiple-choice accuracy read out at every effective depth (early exit) or at the end of any plan.

A choice's score is the summed log-probability of `" " + choice` after the prompt (the evaluation's
rule); the vocabulary projection runs only at continuation positions, so no [B, T, vocab] tensor is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from tqdm.auto import tqdm

from ..data.tokenizer import Tokenizer
from ..model import Transformer
from .inputs import Item, encode_choices
from .trace import model_device, trace

Readout = Callable[[int, torch.Tensor], torch.Tensor]  # (effective depth i of h_i, hidden [N, d]) -> logits [N, V]


def _padded(
    rows: Sequence[tuple[Sequence[int], int]], pad: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(inputs, next-token targets, mask of the continuation positions) [B, T] of (ids, continuation length) rows,
    right-padded with `pad`."""
    width = max(len(ids) for ids, _ in rows) - 1
    inputs = torch.full((len(rows), width), pad, dtype=torch.long)
    targets = torch.zeros_like(inputs)
    mask = torch.zeros_like(inputs, dtype=torch.bool)
    for j, (ids, n_cont) in enumerate(rows):
        inputs[j, : len(ids) - 1] = torch.tensor(ids[:-1])
        targets[j, : len(ids) - 1] = torch.tensor(ids[1:])
        mask[j, len(ids) - 1 - n_cont : len(ids) - 1] = True
    return inputs.to(device), targets.to(device), mask.to(device)


@torch.no_grad()
def choice_accuracy(
    model: Transformer,
    tokenizer: Tokenizer,
    items: Sequence[Item],
    depths: Sequence[int] | None = None,
    readout: Readout | None = None,
    batch_size: int = 16,
    progress: bool = False,
) -> dict[int, float]:
    """Accuracy per residual depth i in `depths` (default: only h_L), logits read by `readout` (default unembed)."""
    readout = readout or (lambda _i, hidden: model.unembed(hidden))
    depths = [model.depth] if depths is None else list(depths)
    max_len = int(model.config.max_seq_len)
    rows, owners = [], []
    for k, item in enumerate(items):
        for c, (ids, n_cont) in enumerate(encode_choices(tokenizer, item, max_len + 1)):
            rows.append((ids, n_cont))
            owners.append((k, c))
    scores = {d: torch.full((len(items), max(len(i.choices) for i in items)), -float("inf")) for d in depths}
    device = model_device(model)
    pad = tokenizer.pad_id if tokenizer.pad_id is not None else 0
    order = sorted(range(len(rows)), key=lambda r: -len(rows[r][0]))
    for start in tqdm(range(0, len(order), batch_size), desc="choices", disable=not progress, leave=False):
        chunk = order[start : start + batch_size]
        inputs, targets, mask = _padded([rows[r] for r in chunk], pad, device)
        tr = trace(model, inputs, parts=False)
        row_of = mask.nonzero()[:, 0]
        wanted = targets[mask]
        for d in depths:
            logprobs = torch.log_softmax(readout(d, tr.residuals[d][mask]).float(), dim=-1)
            picked = logprobs.gather(-1, wanted[:, None])[:, 0]
            sums = torch.zeros(len(chunk), device=device).index_add_(0, row_of, picked).cpu()
            for j, r in enumerate(chunk):
                k, c = owners[r]
                scores[d][k, c] = sums[j]
        del tr
    answers = torch.tensor([item.answer for item in items])
    return {d: float((scores[d].argmax(-1) == answers).float().mean()) for d in depths}


@torch.no_grad()
def greedy_accuracy(
    model: Transformer,
    requests: Sequence[tuple[Sequence[int], Sequence[int]]],
    depths: Sequence[int] | None = None,
    readout: Readout | None = None,
    batch_size: int = 16,
    pad_id: int = 0,
    progress: bool = False,
) -> dict[int, float]:
    """Greedy top-1 accuracy per residual depth i in `depths` (default: only h_L) of (context, continuation)
    requests: a continuation counts when the argmax read out of h_i at each of its positions is its next token
    (lm-eval's `is_greedy`; early exit on Lambada, seed 004 Fig. 8). Contexts are cut from the left to the window."""
    readout = readout or (lambda _i, hidden: model.unembed(hidden))
    depths = [model.depth] if depths is None else list(depths)
    max_len = int(model.config.max_seq_len) + 1
    rows = [((list(c) + list(t))[-max_len:], len(t)) for c, t in requests]
    correct = {d: torch.zeros(len(rows), dtype=torch.bool) for d in depths}
    device = model_device(model)
    order = sorted(range(len(rows)), key=lambda r: -len(rows[r][0]))
    for start in tqdm(range(0, len(order), batch_size), desc="greedy", disable=not progress, leave=False):
        chunk = order[start : start + batch_size]
        inputs, targets, mask = _padded([rows[r] for r in chunk], pad_id, device)
        tr = trace(model, inputs, parts=False)
        row_of, wanted = mask.nonzero()[:, 0], targets[mask]
        for d in depths:
            wrong = (readout(d, tr.residuals[d][mask]).argmax(-1) != wanted).long()
            misses = torch.zeros(len(chunk), dtype=torch.long, device=device).index_add_(0, row_of, wrong).cpu()
            correct[d][torch.tensor(chunk)] = misses == 0
        del tr
    return {d: float(correct[d].float().mean()) for d in depths}
