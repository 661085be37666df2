"""Batched log-likelihood of continuations given contexts: the one scorer behind every benchmark here.

A request is `(context_ids, continuation_ids)`. Requests are sorted by length, right-padded into
batches, and each batch is one forward pass; a row's score is the summed log-probability of its
continuation tokens (padding is masked out). Contexts longer than the model's window are cut from
the left, as lm-eval does, so the continuation and the end of the context are always scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from ..data.tokenizer import Tokenizer
from ..errors import check_int


@dataclass(frozen=True)
class Score:
    """Summed log-likelihood of a continuation, whether greedy decoding would produce it, and if its context was cut."""

    logprob: float
    greedy: bool
    truncated: bool


def encode_pair(tokenizer: Tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """Token ids of `context` and of `continuation` as they appear in `context + continuation`.

    Encoding the joined text and splitting at the context's length (lm-eval's rule) keeps merges across
    the boundary the way the training text has them; byte tokenizers split exactly.
    """
    whole = tokenizer.encode(context + continuation)
    ctx = tokenizer.encode(context)
    if len(ctx) < len(whole) and whole[: len(ctx)] == ctx:
        return ctx, whole[len(ctx) :]
    return ctx, tokenizer.encode(continuation)


def context_window(model: nn.Module) -> int:
    """Longest sequence the model was built for (`config.max_seq_len`); RoPE runs longer, but untrained."""
    config = getattr(model, "config", None)
    return int(getattr(config, "max_seq_len", 2048))


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def continuation_logits(model: nn.Module, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Logits [n_masked, vocab] at the masked positions only: the vocabulary projection skips the rest."""
    if hasattr(model, "hidden_states") and hasattr(model, "unembed"):
        return model.unembed(model.hidden_states(inputs)[mask])
    return model(inputs)[mask]


@torch.no_grad()
def score_requests(
    model: nn.Module,
    requests: Sequence[tuple[Sequence[int], Sequence[int]]],
    *,
    batch_size: int = 32,
    max_len: int | None = None,
    pad_id: int = 0,
    progress: bool = False,
    desc: str = "scoring",
) -> list[Score]:
    """Score every `(context, continuation)` request with one forward pass per batch of `batch_size` rows."""
    check_int("batch_size", batch_size, 1)
    max_len = max_len or context_window(model)
    rows: list[tuple[list[int], int, bool]] = []  # (input ids, continuation length, truncated)
    for context, continuation in requests:
        if not continuation:
            raise ValueError("a request has an empty continuation: nothing to score")
        if not context:
            raise ValueError("a request has an empty context: prepend a BOS/EOS token to score from the start")
        if len(continuation) > max_len:
            raise ValueError(f"continuation of {len(continuation)} tokens exceeds the model window of {max_len}")
        full = list(context) + list(continuation)
        keep = full[-(max_len + 1) :]
        rows.append((keep, len(continuation), len(full) > len(keep)))
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i][0]))
    device = model_device(model)
    was_training = model.training
    model.eval()
    results: list[Score | None] = [None] * len(rows)
    try:
        for start in tqdm(range(0, len(order), batch_size), desc=desc, disable=not progress, leave=False):
            chunk = order[start : start + batch_size]
            width = max(len(rows[i][0]) for i in chunk) - 1
            inputs = torch.full((len(chunk), width), pad_id, dtype=torch.long)
            targets = torch.zeros((len(chunk), width), dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.bool)
            for r, i in enumerate(chunk):
                ids, n_cont, _ = rows[i]
                length = len(ids) - 1
                inputs[r, :length] = torch.tensor(ids[:-1])
                targets[r, :length] = torch.tensor(ids[1:])
                mask[r, length - n_cont : length] = True
            inputs, targets, mask = inputs.to(device), targets.to(device), mask.to(device)
            logprobs = torch.log_softmax(continuation_logits(model, inputs, mask).float(), dim=-1)
            wanted = targets[mask]
            picked = logprobs.gather(-1, wanted.unsqueeze(-1)).squeeze(-1)
            hit = (logprobs.argmax(-1) == wanted).float()
            row = mask.nonzero()[:, 0]
            sums = torch.zeros(len(chunk), device=device).index_add_(0, row, picked).tolist()
            misses = torch.zeros(len(chunk), device=device).index_add_(0, row, 1.0 - hit).tolist()
            for r, i in enumerate(chunk):
                results[i] = Score(sums[r], misses[r] == 0, rows[i][2])
    finally:
        model.train(was_training)
    return results  # type: ignore[return-value]
