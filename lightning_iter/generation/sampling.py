"""Next-token choice: greedy, or sampling with temperature, top-k and top-p (nucleus) filtering."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..errors import check_float, check_int


def check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """Raise ConfigError for out-of-range sampling options."""
    check_float("--temperature", temperature, 0, allowed="use 0 for greedy or a finite positive value")
    if top_k is not None:
        check_int("--top_k", top_k, 1, allowed="it must be an integer >= 1 (or unset)")
    if top_p is not None:
        check_float("--top_p", top_p, maximum=1.0, above=0.0, allowed="it must be in (0, 1] (or unset)")


def sample_next(
    logits: torch.Tensor,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | Sequence[torch.Generator] | None = None,
) -> torch.Tensor:
    """Token ids [batch] from last-position logits [batch, vocab]; `temperature == 0` is greedy (argmax).

    `generator`: one for the batch, or one per row, so a row's draws do not depend on the other rows.
    """
    check_sampling(temperature, top_k, top_p)
    if temperature == 0:
        return logits.argmax(dim=-1)
    scores = logits.float() / temperature
    if top_k is not None and top_k < scores.shape[-1]:
        kth = torch.topk(scores, top_k, dim=-1).values[..., -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_scores, order = torch.sort(scores, dim=-1, descending=True)
        cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
        drop = cumulative - sorted_scores.softmax(dim=-1) >= top_p  # keep the smallest prefix reaching top_p
        sorted_scores = sorted_scores.masked_fill(drop, float("-inf"))
        scores = torch.full_like(scores, float("-inf")).scatter(-1, order, sorted_scores)
    probs = scores.softmax(dim=-1)
    if generator is None or isinstance(generator, torch.Generator):
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
    if len(generator) != probs.shape[0]:
        raise ValueError(f"got {len(generator)} generators for {probs.shape[0]} rows")
    return torch.cat([torch.multinomial(row[None], 1, generator=g)[:, 0] for row, g in zip(probs, generator)])
