"""A byte-level "language model" rigged to know the answers: it puts its mass on a chosen continuation."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from lightning_iter.data.tokenizer import ByteTokenizer


class RiggedLM(nn.Module):
    """After a prompt `p` it has seen (matched by the text before the position), predicts `" " + pick(p)` byte by byte.

    `answers` maps a query prompt (ending with "->") to the continuation the model should prefer.
    Everything else is uniform, so scores differ only on the preferred continuation.
    """

    def __init__(self, answers: dict[str, str], vocab_size: int = 259, max_seq_len: int = 4096) -> None:
        super().__init__()
        self.answers = answers
        self.vocab_size = vocab_size
        self.config = type("Config", (), {"max_seq_len": max_seq_len})()
        self.dummy = nn.Parameter(torch.zeros(()))
        self.tokenizer = ByteTokenizer()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(*tokens.shape, self.vocab_size)
        for b, row in enumerate(tokens.tolist()):
            text = bytes(i for i in row if i < 256).decode("utf-8", errors="replace")
            for prompt, answer in self.answers.items():
                at = text.rfind(prompt)
                if at < 0:
                    continue
                target = [*(" " + answer).encode(), self.tokenizer.eos_id]
                start = len(prompt.encode()) + len(text[:at].encode()) - 1  # position predicting the first byte
                for k, byte in enumerate(target):
                    if start + k < tokens.shape[1]:
                        logits[b, start + k, byte] = 20.0
        return logits + self.dummy


def rigged_for(examples, pick: Callable) -> RiggedLM:
    """A RiggedLM that prefers `pick(example)` (a choice string) for each example's query prompt."""
    return RiggedLM({e.query.prompt: pick(e) for e in examples})
