"""Shared-prompt scoring: tokens processed and time of 5-shot primitive evaluation, shared vs unshared.

    python benchmarks/eval_sharing.py [--rounds 3] [--tiny_items 10] [--large_items 1] [--out benchmarks/results/...]

`lightning_iter eval` scores each multiple-choice item either as one full row per (prompt, choice)
(`share_prompts=False`) or by running the prompt once into a KV cache and each choice from a copy of it
(the default, `eval.scoring`). This runs `evaluate_primitives` both ways on the same fixed 5-shot test items,
interleaved round by round, on two random-init models with the byte tokenizer: the `tiny` preset and the
`smollm-135m` width (d_model 576, 9 heads, 3 KV heads, ffn 1536; `--large_layers` of its 30 layers, to keep
a CPU run short: the ratio is per layer). Reported: positions run through the model (padding included,
counted at the embedding), CPU seconds (`time.process_time`, the minimum over rounds) and wall seconds,
the ratios unshared / shared, and whether both ways picked the same choice on every item.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from lightning_iter.atomic import write_json_atomic

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("unshared", "shared")


def build(arch: str, n_layers: int | None) -> Any:
    """A random-init model of preset `arch` with the byte vocabulary and a 2048-token window (no prompt is cut)."""
    import torch

    from lightning_iter.model import ModelConfig, Transformer

    torch.manual_seed(0)
    overrides: dict[str, Any] = {"vocab_size": 259, "max_seq_len": 2048, "kernels": "torch"}
    if n_layers:
        overrides["n_layers"] = n_layers
    return Transformer(ModelConfig.from_name(arch, **overrides)).eval()


def run_once(model: Any, options: dict[str, Any], shared: bool) -> tuple[dict[str, Any], int, float, float]:
    """One evaluation: its result, positions through the embedding, CPU seconds and wall seconds."""
    from lightning_iter.data.tokenizer import ByteTokenizer
    from lightning_iter.eval.primitives import evaluate_primitives

    seen = [0]
    handle = model.embed_tokens.register_forward_hook(
        lambda m, args, out: seen.__setitem__(0, seen[0] + args[0].numel())
    )
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        result = evaluate_primitives(model, ByteTokenizer(), progress=False, share_prompts=shared, **options)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        handle.remove()
    return result, seen[0], cpu, wall


def measure(label: str, model: Any, options: dict[str, Any], rounds: int) -> dict[str, Any]:
    """Both variants, interleaved in every round (so background load hits them alike); minimum times."""
    times: dict[str, list[tuple[float, float]]] = {v: [] for v in VARIANTS}
    tokens: dict[str, int] = {}
    predictions: dict[str, Any] = {}
    for r in range(rounds):
        for variant in VARIANTS if r % 2 == 0 else VARIANTS[::-1]:
            result, seen, cpu, wall = run_once(model, options, variant == "shared")
            times[variant].append((cpu, wall))
            tokens[variant], predictions[variant] = seen, result["predictions"]
        print(f"{label}: round {r + 1}/{rounds} done", file=sys.stderr)
    row: dict[str, Any] = {"model": label, "items": sum(len(v) for v in predictions["shared"].values())}
    for variant in VARIANTS:
        row[f"{variant}_tokens"] = tokens[variant]
        row[f"{variant}_cpu_s"] = min(c for c, _ in times[variant])
        row[f"{variant}_wall_s"] = min(w for _, w in times[variant])
    row["token_ratio"] = row["unshared_tokens"] / row["shared_tokens"]
    row["cpu_ratio"] = row["unshared_cpu_s"] / row["shared_cpu_s"]
    row["wall_ratio"] = row["unshared_wall_s"] / row["shared_wall_s"]
    row["same_choices"] = predictions["shared"] == predictions["unshared"]
    return row


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (minimum time reported)")
    parser.add_argument("--shots", type=int, default=5, help="solved examples per prompt (the papers': 5)")
    parser.add_argument("--tasks", default="all", help="comma-separated primitives, or all")
    parser.add_argument("--tiny_items", type=int, default=10, help="items per task@depth for the tiny model")
    parser.add_argument("--tiny_layers", type=int, default=None, help="layers of the tiny model (preset: 4)")
    parser.add_argument("--large_items", type=int, default=1, help="items per task@depth, smollm-135m width (0: skip)")
    parser.add_argument("--large_layers", type=int, default=6, help="layers of the smollm-135m-width model")
    parser.add_argument("--large_depths", default="0", help="assignment depths for the larger model (comma-separated)")
    parser.add_argument("--batch_size", type=int, default=32, help="rows per forward pass (both variants)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "eval_sharing")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    tasks = None if args.tasks == "all" else args.tasks.split(",")
    common = {"tasks": tasks, "shots": args.shots, "batch_size": args.batch_size}
    rows = []
    with torch.inference_mode():
        tiny = build("tiny", args.tiny_layers)
        rows.append(measure("tiny", tiny, {**common, "n_items": args.tiny_items}, args.rounds))
        if args.large_items > 0:
            large = build("smollm-135m", args.large_layers)
            depths = [int(d) for d in args.large_depths.split(",")]
            options = {**common, "n_items": args.large_items, "depths": depths}
            rows.append(measure(f"smollm-135m width, {args.large_layers} layers", large, options, args.rounds))

    print(
        f"\n## Shared-prompt scoring: {args.shots}-shot primitives, {args.rounds} interleaved rounds, "
        f"{args.threads} thread(s), batch {args.batch_size}\n"
    )
    print(
        "| model | items | tokens unshared | tokens shared | token ratio | CPU s unshared | CPU s shared "
        "| CPU ratio | wall ratio | same choices |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['items']} | {r['unshared_tokens']:,} | {r['shared_tokens']:,} "
            f"| {r['token_ratio']:.2f} | {r['unshared_cpu_s']:.2f} | {r['shared_cpu_s']:.2f} "
            f"| {r['cpu_ratio']:.2f} | {r['wall_ratio']:.2f} | {r['same_choices']} |"
        )
    result = {"settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "eval_sharing.json"
    write_json_atomic(path, result)
    print(f"\nwrote {path}")
    return result


if __name__ == "__main__":
    main()
