"""Autoregressive generation over a layer plan, with or without a KV cache indexed by effective depth.

A batch may hold prompts of different lengths: they are left-padded, and the KV cache carries the padding so no
row attends to it. RoPE scores depend only on the distance between positions, so a row shifted right by its
padding decodes as it would alone (up to rounding). Sampling takes one seed per row, so a row's sample does not
depend on the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from ..errors import ConfigError, check_choice, check_int
from ..model.cache import CACHE_MODES, KVCache
from ..model.plan import LoopSpan, find_loop
from ..model.transformer import Transformer
from .adaptive import AdaptiveDepth, adaptive_forward
from .sampling import check_sampling, sample_next

CACHE_CHOICES = (*CACHE_MODES, "none")
Prompts = torch.Tensor | Sequence[Sequence[int]]


@dataclass
class GenerationResult:
    """Left-padded prompts + generated ids [batch, prompt_length + new]; `pad[r]` padding ids lead row r.

    With adaptive depth, `passes[r]` lists the looped block's passes for each token row r decoded (before it
    finished) and `prompt_passes[r]` those of its prompt.
    """

    tokens: torch.Tensor
    prompt_length: int
    pad: list[int] = field(default_factory=list)
    passes: list[list[int]] = field(default_factory=list)
    prompt_passes: list[int] = field(default_factory=list)
    max_passes: int | None = None
    step_logits: list[torch.Tensor] = field(default_factory=list)

    @property
    def new_tokens(self) -> torch.Tensor:
        return self.tokens[:, self.prompt_length :]

    def sequence(self, row: int) -> list[int]:
        """Prompt and continuation of `row`, without its padding."""
        return self.tokens[row, (self.pad[row] if self.pad else 0) :].tolist()

    @property
    def mean_passes(self) -> float | None:
        """Average passes of the looped block per adaptively decoded token (None without adaptive depth)."""
        counts = [n for row in self.passes for n in row]
        return sum(counts) / len(counts) if counts else None


def pad_prompts(prompts: Prompts, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Token ids [batch, longest] left-padded with 0, and the padding per row (None when no row is padded)."""
    if isinstance(prompts, torch.Tensor):
        if prompts.dim() != 2 or prompts.shape[1] == 0:
            raise ConfigError(
                f"prompt must be a non-empty [batch, seq] tensor of token ids; got shape {tuple(prompts.shape)}"
            )
        return prompts, None
    rows = [list(map(int, row)) for row in prompts]
    if not rows or any(not row for row in rows):
        raise ConfigError(
            f"prompts must be a non-empty list of non-empty token lists; got lengths {[len(r) for r in rows]}"
        )
    width = max(len(row) for row in rows)
    pad = [width - len(row) for row in rows]
    tokens = torch.tensor([[0] * n + row for n, row in zip(pad, rows)], dtype=torch.long, device=device)
    return tokens, (torch.tensor(pad, dtype=torch.long, device=device) if any(pad) else None)


def _generators(seed: int | Sequence[int] | None, batch: int, device: torch.device):  # noqa: ANN202
    """One generator for the batch (an int seed), one per row (a seed per row), or None (torch's global RNG)."""
    if seed is None:
        return None
    if isinstance(seed, int):
        return torch.Generator(device=device).manual_seed(seed)
    if len(seed) != batch:
        raise ConfigError(f"got {len(seed)} seeds for {batch} prompts: pass one seed per prompt row, or one int")
    return [torch.Generator(device=device).manual_seed(int(s)) for s in seed]


@torch.inference_mode()
def generate(
    model: Transformer,
    prompt: Prompts,
    max_new_tokens: int,
    *,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | Sequence[int] | None = None,
    eos_id: int | None = None,
    cache: str = "per_pass",
    adaptive: AdaptiveDepth | None = None,
    keep_logits: bool = False,
) -> GenerationResult:
    """Extend `prompt` ([batch, T] ids, or a list of id lists of any lengths) by up to `max_new_tokens`; rows that
    emit `eos_id` are padded with it.

    `cache`: `per_pass` (exact), `shared` (one slot per unique layer; approximate for loops), or `none`
    (full forward over the whole sequence every step; prompts of different lengths then run one at a time).
    `adaptive` exits the plan's looped block early, per sequence (`generation.adaptive`). `seed`: an int seeds
    one sampler for the batch; a list seeds each row's own sampler.
    """
    check_choice("--cache", cache, CACHE_CHOICES)
    check_int("--max_new_tokens", max_new_tokens, 0)
    check_sampling(temperature, top_k, top_p)
    device = prompt.device if isinstance(prompt, torch.Tensor) else next(model.parameters()).device
    tokens, pad = pad_prompts(prompt, device)
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
    options = dict(temperature=temperature, top_k=top_k, top_p=top_p, eos_id=eos_id, keep_logits=keep_logits)
    if cache == "none" and pad is not None:
        return _one_by_one(model, prompt, max_new_tokens, seed, options)  # type: ignore[arg-type]
    was_training = model.training
    model.eval()
    try:
        return _decode(model, tokens, pad, max_new_tokens, cache, loop, adaptive, seed, **options)
    finally:
        model.train(was_training)


def _decode(
    model: Transformer,
    prompt: torch.Tensor,
    pad: torch.Tensor | None,
    max_new_tokens: int,
    cache: str,
    loop: LoopSpan | None,
    adaptive: AdaptiveDepth | None,
    seed: int | Sequence[int] | None,
    *,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    eos_id: int | None,
    keep_logits: bool,
) -> GenerationResult:
    batch = prompt.shape[0]
    generator = _generators(seed, batch, prompt.device)
    result = GenerationResult(
        prompt, prompt.shape[1], [0] * batch if pad is None else pad.tolist(), max_passes=loop and loop.passes
    )
    kv = None if cache == "none" else KVCache(model.plan, cache, max_len=prompt.shape[1] + max_new_tokens, pad=pad)
    if adaptive is not None:
        result.passes = [[] for _ in range(batch)]

    def forward(ids: torch.Tensor, is_prompt: bool) -> tuple[torch.Tensor, list[int] | None]:
        if kv is None:
            return model(ids)[:, -1], None
        if loop is None or adaptive is None or (is_prompt and adaptive.prefill == "full"):
            return model.forward_cached(ids, kv)[:, -1], ([loop.passes] * batch if loop and adaptive else None)
        out, used = adaptive_forward(model, ids, kv, loop, adaptive)
        return out[:, -1], used.tolist()

    logits, used = forward(prompt, True)
    result.prompt_passes = used or []
    tokens = prompt
    finished = torch.zeros(batch, dtype=torch.bool, device=prompt.device)
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
        logits, used = forward(tokens if kv is None else nxt[:, None], False)
        if used is not None:
            for row, (n, done) in enumerate(zip(used, finished.tolist())):
                if not done:
                    result.passes[row].append(n)
    result.tokens = tokens
    return result


def _one_by_one(
    model: Transformer, prompts: Sequence[Sequence[int]], max_new_tokens: int, seed: int | Sequence[int] | None, options
) -> GenerationResult:  # noqa: ANN001
    """Uncached decoding of prompts of different lengths: each alone, then left-padded into one result."""
    seeds = seed if seed is None or isinstance(seed, int) else list(seed)
    if isinstance(seeds, list) and len(seeds) != len(prompts):
        raise ConfigError(
            f"got {len(seeds)} seeds for {len(prompts)} prompts: pass one seed per prompt row, or one int"
        )
    rows = [
        generate(
            model,
            torch.tensor([list(p)]),
            max_new_tokens,
            cache="none",
            seed=seeds[r] if isinstance(seeds, list) else seeds,
            **options,
        )
        for r, p in enumerate(prompts)
    ]
    width = max(len(p) for p in prompts)
    new = max(row.new_tokens.shape[1] for row in rows)
    fill = options["eos_id"] if options["eos_id"] is not None else 0
    tokens = torch.full((len(rows), width + new), fill, dtype=torch.long)
    for r, (p, row) in enumerate(zip(prompts, rows)):
        tokens[r, : width - len(p)] = 0
        tokens[r, width - len(p) : width] = torch.tensor(list(p))
        tokens[r, width : width + row.new_tokens.shape[1]] = row.new_tokens[0]
    return GenerationResult(tokens, width, [width - len(p) for p in prompts])
