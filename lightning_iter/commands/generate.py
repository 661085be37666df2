"""`lightning_iter generate`: text from a checkpoint, greedy or sampled, with a KV cache by effective depth."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from jsonargparse import ArgumentParser

from ..errors import ConfigError, check_int
from ._common import add_model_arguments, load_from_arguments


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="lightning_iter generate", description=__doc__)
    add_model_arguments(parser)
    parser.add_argument(
        "--prompt", type=str, action="append", default=None, help="text to continue; repeat for a batch of prompts"
    )
    parser.add_argument(
        "--prompts_file",
        type=str | None,
        default=None,
        help="more prompts: one per line, or a .json file holding a list of strings (prompts with line breaks)",
    )
    parser.add_argument("--num_samples", type=int, default=1, help="continuations per prompt (needs --temperature > 0)")
    parser.add_argument("--max_new_tokens", type=int, default=64, help="stop after this many new tokens (or at EOS)")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy; > 0 samples")
    parser.add_argument("--top_k", type=int | None, default=None, help="sample among the k most likely tokens")
    parser.add_argument(
        "--top_p", type=float | None, default=None, help="nucleus sampling: smallest set with mass >= p"
    )
    parser.add_argument(
        "--seed",
        type=int | None,
        default=None,
        help="seed of the sampler: sample k of every prompt uses seed + k (default: drawn at random and printed)",
    )
    parser.add_argument(
        "--cache",
        type=str,
        default="per_pass",
        help="per_pass (exact), shared (one slot per unique layer: less memory, approximate for "
        "loops) or none (full forward every step)",
    )
    parser.add_argument(
        "--adaptive_threshold",
        type=float | None,
        default=None,
        help="each sequence exits the looped/repeated block once it changes by less than this",
    )
    parser.add_argument(
        "--adaptive_criterion",
        type=str,
        default="delta",
        help="delta (relative change of the hidden state) or kl (next-token KL between passes)",
    )
    parser.add_argument(
        "--adaptive_prefill",
        type=str,
        default="exit",
        help="exit (the prompt exits the block by the same rule, as Huginn) or full (the prompt runs every pass)",
    )
    parser.add_argument("--stop_at_eos", type=bool, default=True, help="stop when the tokenizer's EOS is generated")
    return parser


def read_prompts(prompts: list[str] | None, prompts_file: str | None) -> list[str]:
    """The `--prompt` texts, then those of `--prompts_file`; at least one, none empty."""
    texts = list(prompts or [])
    if prompts_file is not None:
        path = Path(prompts_file)
        if not path.is_file():
            raise ConfigError(f"--prompts_file={prompts_file!r} is not a file")
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            try:
                loaded = json.loads(text)
            except json.JSONDecodeError as err:
                raise ConfigError(f"--prompts_file={prompts_file!r} is not valid JSON ({err})") from None
            if not isinstance(loaded, list) or not all(isinstance(item, str) for item in loaded):
                raise ConfigError(f"--prompts_file={prompts_file!r} must hold a JSON list of strings")
            texts += loaded
        else:
            texts += [line for line in text.splitlines() if line.strip()]
    if not texts:
        raise ConfigError("no prompt: give --prompt TEXT (repeatable) or --prompts_file FILE")
    empty = [i for i, t in enumerate(texts) if not t]
    if empty:
        raise ConfigError(f"prompt {empty[0] + 1} is empty: every prompt needs at least one character")
    return texts


def main(argv: list[str]) -> None:
    """Load, generate, print each continuation and a one-line summary (plan, parameters, speed, passes)."""
    cfg = build_parser().parse_args(argv)
    texts = read_prompts(cfg.prompt, cfg.prompts_file)
    check_int("--num_samples", cfg.num_samples, 1)
    if cfg.num_samples > 1 and cfg.temperature == 0:
        raise ConfigError(
            f"--num_samples={cfg.num_samples} needs --temperature > 0: greedy decoding has one continuation"
        )
    import torch  # after parsing, so `--help` stays fast

    from ..generation import AdaptiveDepth, generate
    from ..model import inference_flops_per_token
    from ..model.plan import format_plan

    adaptive = None
    if cfg.adaptive_threshold is not None:
        adaptive = AdaptiveDepth(
            threshold=cfg.adaptive_threshold, criterion=cfg.adaptive_criterion, prefill=cfg.adaptive_prefill
        )
    seed = cfg.seed if cfg.seed is not None else int(torch.randint(0, 2**31 - 1, ()).item())
    loaded = load_from_arguments(cfg)
    model, tokenizer = loaded.model, loaded.tokenizer
    rows = [(i, k) for i in range(len(texts)) for k in range(cfg.num_samples)]
    ids = [tokenizer.encode(text) for text in texts]
    start = time.perf_counter()
    result = generate(
        model,
        [ids[i] for i, _ in rows],
        cfg.max_new_tokens,
        temperature=cfg.temperature,
        top_k=cfg.top_k,
        top_p=cfg.top_p,
        seed=[seed + k for _, k in rows],
        eos_id=tokenizer.eos_id if cfg.stop_at_eos else None,
        cache=cfg.cache,
        adaptive=adaptive,
    )
    seconds = time.perf_counter() - start
    count = 0
    for row, (i, k) in enumerate(rows):
        new = result.new_tokens[row].tolist()
        if cfg.stop_at_eos and tokenizer.eos_id in new:
            new = new[: new.index(tokenizer.eos_id)]
        count += len(new)
        if len(rows) > 1:
            sampled = f", sample {k + 1} (seed {seed + k})" if cfg.temperature > 0 else ""
            sys.stdout.write(f"### prompt {i + 1}{sampled}\n")
        sys.stdout.write(texts[i] + tokenizer.decode(new) + "\n")
    config = model.config
    flops = inference_flops_per_token(config, model.depth, result.tokens.shape[1])
    summary = (
        f"[lightning_iter] plan {format_plan(model.plan)} ({model.n_unique} unique layers, effective depth "
        f"{model.depth}); parameters: {model.num_parameters(unique=True):,} unique, "
        f"{model.num_parameters(unique=False):,} effective; {flops / 1e6:.2f} MFLOPs/token; "
        f"{count} tokens in {seconds:.2f}s ({count / max(seconds, 1e-9):.1f} tok/s, cache {cfg.cache}"
        f"{f', batch {len(rows)}' if len(rows) > 1 else ''})"
    )
    if cfg.temperature > 0:
        summary += f"; seed {seed}"
    if result.mean_passes is not None:
        summary += f"; adaptive: {result.mean_passes:.2f} of {result.max_passes} block passes per token on average"
        prompt = sum(result.prompt_passes) / len(result.prompt_passes)
        summary += f" ({prompt:.2f} for the prompt, prefill {cfg.adaptive_prefill})"
    print(summary, file=sys.stderr)
