"""Batched log-likelihood of continuations given contexts: the one scorer behind every benchmark here.

A request is `(context_ids, continuation_ids)`; its score is the summed log-probability of the continuation
tokens. Requests that share a context (the choices of one multiple-choice item) are scored from one pass
over that context by default: the context runs once into a per-pass KV cache (`model.cache`), then every
continuation runs from a copy of it (its first token is predicted by the context's last position). The
other requests are sorted by length, right-padded into batches and scored one forward pass per batch.
Contexts longer than the model's window are cut from the left, as lm-eval does, so the continuation and the
end of the context are always scored; such requests are scored unshared (their cut depends on the
continuation's length).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from ..data.tokenizer import Tokenizer
from ..errors import check_int
from ..model.cache import KVCache


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


def shares_prompts(model: nn.Module) -> bool:
    """Whether `model` can run a prefix into a KV cache and continue from it (our `Transformer`)."""
    return all(hasattr(model, name) for name in ("hidden_states_cached", "unembed", "plan"))


def _padded(sequences: Sequence[Sequence[int]], width: int, pad_id: int) -> torch.Tensor:
    batch = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    for r, ids in enumerate(sequences):
        batch[r, : len(ids)] = torch.tensor(list(ids), dtype=torch.long)
    return batch


def _score_unshared(
    model: nn.Module, rows: Sequence[tuple[list[int], int]], order: Sequence[int], batch_size: int, pad_id: int
) -> dict[int, tuple[float, bool]]:
    """(log-prob, greedy) of rows `order` (input ids, continuation length): one right-padded forward per batch."""
    device = model_device(model)
    out: dict[int, tuple[float, bool]] = {}
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        width = max(len(rows[i][0]) for i in chunk) - 1
        inputs = _padded([rows[i][0][:-1] for i in chunk], width, pad_id)
        targets = _padded([rows[i][0][1:] for i in chunk], width, 0)
        mask = torch.zeros((len(chunk), width), dtype=torch.bool)
        for r, i in enumerate(chunk):
            ids, n_cont = rows[i]
            mask[r, len(ids) - 1 - n_cont : len(ids) - 1] = True
        inputs, targets, mask = inputs.to(device), targets.to(device), mask.to(device)
        logprobs = torch.log_softmax(continuation_logits(model, inputs, mask).float(), dim=-1)
        sums, misses = _row_totals(logprobs, targets[mask], mask.nonzero()[:, 0], len(chunk))
        for r, i in enumerate(chunk):
            out[i] = (sums[r], misses[r] == 0)
    return out


def _row_totals(
    logprobs: torch.Tensor, wanted: torch.Tensor, row: torch.Tensor, n_rows: int
) -> tuple[list[float], list[float]]:
    """Per row: summed log-prob of the wanted tokens, and how many of them are not the argmax."""
    picked = logprobs.gather(-1, wanted.unsqueeze(-1)).squeeze(-1)
    miss = (logprobs.argmax(-1) != wanted).float()
    zeros = torch.zeros(n_rows, device=logprobs.device)
    return zeros.index_add(0, row, picked).tolist(), zeros.index_add(0, row, miss).tolist()


def _score_shared(
    model: nn.Module,
    requests: Sequence[tuple[Sequence[int], Sequence[int]]],
    groups: Sequence[list[int]],
    batch_size: int,
    pad_id: int,
) -> dict[int, tuple[float, bool]]:
    """(log-prob, greedy) of the requests in `groups` (indices sharing one context), each context run once.

    Contexts run `batch_size` at a time, right-padded, into one per-pass KV cache; the continuations of all
    contexts of one length then run from `KVCache.fork` copies of it, at most `batch_size` rows per pass.
    """
    device = model_device(model)
    out: dict[int, tuple[float, bool]] = {}
    groups = sorted(groups, key=lambda g: -len(requests[g[0]][0]))
    for start in range(0, len(groups), batch_size):
        chunk = groups[start : start + batch_size]
        contexts = [list(requests[g[0]][0]) for g in chunk]
        cache = KVCache(model.plan, "per_pass")
        hidden = model.hidden_states_cached(_padded(contexts, len(contexts[0]), pad_id).to(device), cache)
        ends = torch.tensor([len(c) - 1 for c in contexts], device=device)
        first = torch.log_softmax(model.unembed(hidden[torch.arange(len(chunk), device=device), ends]).float(), -1)
        members = [(r, i) for r, g in enumerate(chunk) for i in g]
        members.sort(key=lambda m: (len(contexts[m[0]]), m[0]))
        for at in range(0, len(members), batch_size):
            part = members[at : at + batch_size]
            tails = [list(requests[i][1]) for _, i in part]
            owner = torch.tensor([r for r, _ in part], device=device)
            lead = torch.tensor([t[0] for t in tails], device=device)
            sums, misses = _row_totals(first[owner], lead, torch.arange(len(part), device=device), len(part))
            for length in sorted({len(contexts[r]) for r, _ in part}):
                rows = [k for k, (r, _) in enumerate(part) if len(contexts[r]) == length and len(tails[k]) > 1]
                if not rows:
                    continue
                width = max(len(tails[k]) for k in rows) - 1
                fork = cache.fork([part[k][0] for k in rows], length, width)
                h = model.hidden_states_cached(_padded([tails[k][:-1] for k in rows], width, pad_id).to(device), fork)
                mask = torch.zeros((len(rows), width), dtype=torch.bool)
                for n, k in enumerate(rows):
                    mask[n, : len(tails[k]) - 1] = True
                targets = _padded([tails[k][1:] for k in rows], width, 0)
                mask, targets = mask.to(device), targets.to(device)
                logprobs = torch.log_softmax(model.unembed(h[mask]).float(), dim=-1)
                more, wrong = _row_totals(logprobs, targets[mask], mask.nonzero()[:, 0], len(rows))
                for n, k in enumerate(rows):
                    sums[k] += more[n]
                    misses[k] += wrong[n]
            for k, (_, i) in enumerate(part):
                out[i] = (sums[k], misses[k] == 0)
    return out


def plan_shared(
    requests: Sequence[tuple[Sequence[int], Sequence[int]]], cut: Sequence[bool]
) -> tuple[list[list[int]], list[int]]:
    """Indices grouped by identical context (groups of two or more, none cut to the window) and the rest."""
    by_context: dict[tuple[int, ...], list[int]] = {}
    for i, (context, _) in enumerate(requests):
        if not cut[i]:
            by_context.setdefault(tuple(context), []).append(i)
    groups = [g for g in by_context.values() if len(g) > 1]
    grouped = {i for g in groups for i in g}
    return groups, [i for i in range(len(requests)) if i not in grouped]


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
    share_prompts: bool = True,
) -> list[Score]:
    """Score every `(context, continuation)` request, `batch_size` rows per forward pass.

    `share_prompts` (default) runs a context shared by several requests once (see the module docstring);
    `False` runs one full row per request. Both give the same scores within float tolerance (tested).
    """
    check_int("batch_size", batch_size, 1)
    max_len = max_len or context_window(model)
    rows: list[tuple[list[int], int]] = []  # (input ids, continuation length)
    cut: list[bool] = []
    for context, continuation in requests:
        if not continuation:
            raise ValueError("a request has an empty continuation: nothing to score")
        if not context:
            raise ValueError("a request has an empty context: prepend a BOS/EOS token to score from the start")
        if len(continuation) > max_len:
            raise ValueError(f"continuation of {len(continuation)} tokens exceeds the model window of {max_len}")
        full = list(context) + list(continuation)
        keep = full[-(max_len + 1) :]
        rows.append((keep, len(continuation)))
        cut.append(len(full) > len(keep))
    groups, rest = (
        plan_shared(requests, cut) if share_prompts and shares_prompts(model) else ([], list(range(len(rows))))
    )
    groups.sort(key=lambda g: -len(requests[g[0]][0]))  # contexts of similar length share a batch: little padding
    rest.sort(key=lambda i: -len(rows[i][0]))
    was_training = model.training
    model.eval()
    scores: dict[int, tuple[float, bool]] = {}
    try:
        steps = [("shared", groups[s : s + batch_size]) for s in range(0, len(groups), batch_size)]
        steps += [("rows", rest[s : s + batch_size]) for s in range(0, len(rest), batch_size)]
        for kind, part in tqdm(steps, desc=desc, disable=not progress, leave=False):
            if kind == "shared":
                scores.update(_score_shared(model, requests, part, batch_size, pad_id))
            else:
                scores.update(_score_unshared(model, rows, part, batch_size, pad_id))
    finally:
        model.train(was_training)
    return [Score(scores[i][0], scores[i][1], cut[i]) for i in range(len(rows))]
