"""`lightning_iter generate`: text from a checkpoint, greedy or sampled, with a KV cache by effective depth."""

from __future__ import annotations

import sys
import time

import torch
from jsonargparse import ArgumentParser

from ._common import add_model_arguments, load_from_arguments


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="lightning_iter generate", description=__doc__)
    add_model_arguments(parser)
    parser.add_argument("--prompt", type=str, required=True, help="text to continue")
    parser.add_argument("--max_new_tokens", type=int, default=64, help="stop after this many new tokens (or at EOS)")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy; > 0 samples")
    parser.add_argument("--top_k", type=int | None, default=None, help="sample among the k most likely tokens")
    parser.add_argument(
        "--top_p", type=float | None, default=None, help="nucleus sampling: smallest set with mass >= p"
    )
    parser.add_argument("--seed", type=int | None, default=None, help="seed of the sampler")
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
        help="exit the looped/repeated block per token once it changes by less than this",
    )
    parser.add_argument(
        "--adaptive_criterion",
        type=str,
        default="delta",
        help="delta (relative change of the hidden state) or kl (next-token KL between passes)",
    )
    parser.add_argument("--stop_at_eos", type=bool, default=True, help="stop when the tokenizer's EOS is generated")
    return parser


def main(argv: list[str]) -> None:
    """Load, generate, print the continuation and a one-line summary (plan, parameters, speed, passes)."""
    from ..generation import AdaptiveDepth, generate
    from ..model import inference_flops_per_token
    from ..model.plan import format_plan

    cfg = build_parser().parse_args(argv)
    adaptive = None
    if cfg.adaptive_threshold is not None:
        adaptive = AdaptiveDepth(threshold=cfg.adaptive_threshold, criterion=cfg.adaptive_criterion)
    loaded = load_from_arguments(cfg)
    model, tokenizer = loaded.model, loaded.tokenizer
    prompt_ids = tokenizer.encode(cfg.prompt)
    prompt = torch.tensor([prompt_ids], dtype=torch.long, device=next(model.parameters()).device)
    start = time.perf_counter()
    result = generate(
        model,
        prompt,
        cfg.max_new_tokens,
        temperature=cfg.temperature,
        top_k=cfg.top_k,
        top_p=cfg.top_p,
        seed=cfg.seed,
        eos_id=tokenizer.eos_id if cfg.stop_at_eos else None,
        cache=cfg.cache,
        adaptive=adaptive,
    )
    seconds = time.perf_counter() - start
    new = [t for t in result.new_tokens[0].tolist() if not (cfg.stop_at_eos and t == tokenizer.eos_id)]
    sys.stdout.write(cfg.prompt + tokenizer.decode(new) + "\n")
    config = model.config
    flops = inference_flops_per_token(config, model.depth, prompt.shape[1] + len(new))
    summary = (
        f"[lightning_iter] plan {format_plan(model.plan)} ({model.n_unique} unique layers, effective depth "
        f"{model.depth}); parameters: {model.num_parameters(unique=True):,} unique, "
        f"{model.num_parameters(unique=False):,} effective; {flops / 1e6:.2f} MFLOPs/token; "
        f"{len(new)} tokens in {seconds:.2f}s ({len(new) / max(seconds, 1e-9):.1f} tok/s, cache {cfg.cache})"
    )
    if result.mean_passes is not None:
        summary += f"; adaptive: {result.mean_passes:.2f} of {result.max_passes} block passes per token on average"
    print(summary, file=sys.stderr)
