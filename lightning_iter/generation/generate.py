"""Autoregressive generation over a layer plan, with or without a KV cache indexed by effective depth."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..errors import ConfigError, check_choice, check_int
from ..model.cache import CACHE_MODES, KVCache
from ..model.plan import find_loop
from ..model.transformer import Transformer
from .adaptive import AdaptiveDepth, adaptive_forward
from .sampling import check_sampling, sample_next

CACHE_CHOICES = (*CACHE_MODES, "none")


@dataclass
class GenerationResult:
    """Prompt + generated ids [batch, prompt + new]; per decode step, passes of the adaptive block (if any)."""

    tokens: torch.Tensor
    prompt_length: int
    passes: list[int] = field(default_factory=list)
    max_passes: int | None = None
    step_logits: list[torch.Tensor] = field(default_factory=list)

    @property
    def new_tokens(self) -> torch.Tensor:
        return self.tokens[:, self.prompt_length :]

    @property
    def mean_passes(self) -> float | None:
        """Average passes of the looped block per adaptively decoded token (None without adaptive depth)."""
        return sum(self.passes) / len(self.passes) if self.passes else None


@torch.inference_mode()
def generate(
    model: Transformer,
    prompt: torch.Tensor,
    max_new_tokens: int,
    *,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    eos_id: int | None = None,
    cache: str = "per_pass",
    adaptive: AdaptiveDepth | None = None,
    keep_logits: bool = False,
) -> GenerationResult:
    """Extend `prompt` [batch, T] by up to `max_new_tokens`; rows that emit `eos_id` are padded with it.

    `cache`: `per_pass` (exact), `shared` (one slot per unique layer; approximate for loops), or `none`
    (full forward over the whole sequence every step). `adaptive` exits the plan's looped block early
    per decoded token (the prompt always runs the full plan).
    """
    check_choice("--cache", cache, CACHE_CHOICES)
    check_int("--max_new_tokens", max_new_tokens, 0)
    if prompt.dim() != 2 or prompt.shape[1] == 0:
        raise ConfigError(
            f"prompt must be a non-empty [batch, seq] tensor of token ids; got shape {tuple(prompt.shape)}"
        )
    check_sampling(temperature, top_k, top_p)
    loop = None
    if adaptive is not None:
        if cache == "none":
            raise ConfigError("--adaptive_threshold needs a KV cache: use --cache per_pass or --cache shared")
        loop = find_loop(model.plan)
        if loop is None:
            raise ConfigError(
                f"--adaptive_threshold needs a looped or repeated block, but plan {model.plan} repeats none: "
                "load a looped model or add one with --repeat START:ENDxEXTRA"
            )
    was_training = model.training
    model.eval()
    generator = None
    if seed is not None:
        generator = torch.Generator(device=prompt.device).manual_seed(seed)
    result = GenerationResult(prompt, prompt.shape[1], max_passes=None if loop is None else loop.passes)
    kv = None if cache == "none" else KVCache(model.plan, cache, max_len=prompt.shape[1] + max_new_tokens)
    try:
        logits = (model(prompt) if kv is None else model.forward_cached(prompt, kv))[:, -1]
        tokens = prompt
        finished = torch.zeros(prompt.shape[0], dtype=torch.bool, device=prompt.device)
        for step in range(max_new_tokens):
            if keep_logits:
                result.step_logits.append(logits.float().cpu())
            nxt = sample_next(logits, temperature, top_k, top_p, generator)
            if eos_id is not None:
                nxt = torch.where(finished, torch.full_like(nxt, eos_id), nxt)
                finished |= nxt == eos_id
            tokens = torch.cat([tokens, nxt[:, None]], dim=1)
            if step == max_new_tokens - 1 or bool(finished.all()):
                break
            if kv is None:
                logits = model(tokens)[:, -1]
            elif loop is not None and adaptive is not None:
                out, used = adaptive_forward(model, nxt[:, None], kv, loop, adaptive)
                logits = out[:, -1]
                result.passes.append(used)
            else:
                logits = model.forward_cached(nxt[:, None], kv)[:, -1]
        result.tokens = tokens
    finally:
        model.train(was_training)
    return result
