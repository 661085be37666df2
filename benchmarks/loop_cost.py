"""Inference cost of block repetition: wall-clock and peak memory of a forward and of cached generation.

    python benchmarks/loop_cost.py [--block 3:5] [--max_extra 3] [--device cpu] [--out benchmarks/results/loop_cost]

Repeating b of a model's L layers r extra times should cost about 1 + r·b/L of the plain model
(the linear model: layers dominate; embedding, head and the KV cache of other layers do not grow).
For r = 0..max_extra this measures a forward over [batch, seq_len] and greedy generation with the
per-pass KV cache (prompt + new tokens), and prints measured/plain next to the linear prediction.
Peak memory: on CUDA `torch.cuda.max_memory_allocated` above the idle model; on CPU the growth of the
resident set of a fresh child process while it runs the workload once (sampled every 0.2 ms, so
coarse: page granularity and allocator behaviour, roughly ±0.5 MiB).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lightning_iter.atomic import write_json_atomic

ROOT = Path(__file__).resolve().parents[1]


def build(args: argparse.Namespace, extra: int) -> tuple[Any, Any, Any]:
    """The benchmark model (random weights) with the block repeated `extra` times, and its inputs."""
    import torch

    from lightning_iter.model import ModelConfig, Transformer, repeat_block

    torch.manual_seed(0)
    config = ModelConfig.from_name(args.arch, vocab_size=259, n_layers=args.n_layers, kernels="torch")
    model = Transformer(config).to(args.device).eval()
    start, end = (int(x) for x in args.block.split(":"))
    model.plan = repeat_block(model.plan, start, end, extra)
    tokens = torch.randint(0, 259, (args.batch, args.seq_len), device=args.device)
    prompt = torch.randint(0, 259, (1, args.prompt_len), device=args.device)
    return model, tokens, prompt


def workload(args: argparse.Namespace, model: Any, tokens: Any, prompt: Any, kind: str) -> Any:
    from lightning_iter.generation import generate

    if kind == "forward":
        return model(tokens)
    return generate(model, prompt, args.new_tokens, cache="per_pass")


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(args: argparse.Namespace, extras: list[int], kind: str) -> dict[int, float]:
    """Best (minimum) wall-clock seconds of `kind` per r over `args.reps` rounds after a warm-up.

    The r values are interleaved within each round, so background load hits them alike.
    """
    import torch

    built = {extra: build(args, extra) for extra in extras}
    times: dict[int, list[float]] = {extra: [] for extra in extras}
    with torch.inference_mode():
        for rep in range(args.reps + 1):
            for extra, (model, tokens, prompt) in built.items():
                _sync(args.device)
                start = time.perf_counter()
                workload(args, model, tokens, prompt, kind)
                _sync(args.device)
                if rep:
                    times[extra].append(time.perf_counter() - start)
    return {extra: min(values) for extra, values in times.items()}


def peak_memory(args: argparse.Namespace, extra: int, kind: str) -> float:
    """Peak bytes above the idle model while running `kind` once."""
    if args.device.startswith("cuda"):
        import torch

        model, tokens, prompt = build(args, extra)
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        with torch.inference_mode():
            workload(args, model, tokens, prompt, kind)
        torch.cuda.synchronize()
        return float(torch.cuda.max_memory_allocated() - base)
    cmd = [sys.executable, __file__, "--_child", kind, "--_extra", str(extra), *_shared_flags(args)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return float(out.stdout.strip().splitlines()[-1])


def _shared_flags(args: argparse.Namespace) -> list[str]:
    return [
        "--arch",
        args.arch,
        "--n_layers",
        str(args.n_layers),
        "--block",
        args.block,
        "--batch",
        str(args.batch),
        "--seq_len",
        str(args.seq_len),
        "--prompt_len",
        str(args.prompt_len),
        "--new_tokens",
        str(args.new_tokens),
        "--device",
        args.device,
    ]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(args: argparse.Namespace) -> None:
    """Run one workload in this fresh process and print its peak resident memory above the idle model (bytes).

    A thread samples /proc/self/statm every 0.2 ms (torch ops release the GIL); a fresh process has no
    allocator cache yet, so growth of the resident set is the workload's own memory.
    """
    import threading

    import torch

    torch.set_num_threads(1)
    model, tokens, prompt = build(args, args._extra)
    before = _rss_bytes()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.0002)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    with torch.inference_mode():
        workload(args, model, tokens, prompt, args._child)
    done.set()
    thread.join()
    print(max(peak[0], _rss_bytes()) - before)


def kv_cache_bytes(args: argparse.Namespace, extra: int, mode: str) -> int:
    import torch

    from lightning_iter.model.cache import KVCache

    model, _, prompt = build(args, extra)
    cache = KVCache(model.plan, mode, max_len=args.prompt_len + args.new_tokens)
    with torch.inference_mode():
        model.forward_cached(prompt, cache)
    return cache.nbytes()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="tiny", help="model preset (random weights)")
    parser.add_argument("--n_layers", type=int, default=8, help="L: unique layers of the plain model")
    parser.add_argument("--block", default="3:5", help="plan positions START:END repeated (b = END - START)")
    parser.add_argument("--max_extra", type=int, default=3, help="r = 0..max_extra extra passes")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq_len", type=int, default=256, help="forward: [batch, seq_len] tokens")
    parser.add_argument("--prompt_len", type=int, default=32, help="generation: prompt length")
    parser.add_argument("--new_tokens", type=int, default=64, help="generation: greedy tokens with the per-pass cache")
    parser.add_argument("--reps", type=int, default=10, help="timed repetitions (the minimum is reported)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for the timings")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip_memory", action="store_true", help="timings only (no child processes on CPU)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "loop_cost")
    parser.add_argument("--_child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--_extra", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._child:
        child(args)
        return {}

    import torch

    torch.set_num_threads(args.threads)
    start, end = (int(x) for x in args.block.split(":"))
    b, n = end - start, args.n_layers
    extras = list(range(args.max_extra + 1))
    timings = {kind: timed(args, extras, kind) for kind in ("forward", "generate")}
    rows = []
    for extra in extras:
        row: dict[str, Any] = {"extra": extra, "depth": n + extra * b, "linear": 1 + extra * b / n}
        for kind in ("forward", "generate"):
            row[f"{kind}_s"] = timings[kind][extra]
            row[f"{kind}_peak_bytes"] = float("nan") if args.skip_memory else peak_memory(args, extra, kind)
        row["kv_per_pass_bytes"] = kv_cache_bytes(args, extra, "per_pass")
        row["kv_shared_bytes"] = kv_cache_bytes(args, extra, "shared")
        rows.append(row)
        print(f"r={extra} done", file=sys.stderr)
    base = rows[0]
    for row in rows:
        for key in ("forward_s", "generate_s", "forward_peak_bytes", "generate_peak_bytes", "kv_per_pass_bytes"):
            row[f"{key}_ratio"] = row[key] / base[key] if base[key] > 0 else float("nan")  # nan stays nan
            row[f"{key}_vs_linear"] = row[f"{key}_ratio"] / row["linear"]

    mib = 2.0**20
    print(
        f"\n## Block repetition cost: {args.arch}, L={n}, block {start}:{end} (b={b}), device {args.device}, "
        f"{args.threads} thread(s)\n"
    )
    print(
        f"forward: [{args.batch}, {args.seq_len}] tokens; generation: prompt {args.prompt_len} + {args.new_tokens} "
        "greedy tokens, per-pass KV cache. ratio = measured / r=0; vs lin = ratio / (1 + r·b/L).\n"
    )
    print(
        "| r | depth | linear 1+r·b/L | fwd ms | fwd ratio | vs lin | fwd peak MiB | ratio "
        "| gen ms | gen ratio | vs lin | gen peak MiB | ratio | KV per-pass KiB | KV shared KiB |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['extra']} | {r['depth']} | {r['linear']:.3f} | {r['forward_s'] * 1e3:.1f} "
            f"| {r['forward_s_ratio']:.3f} | {r['forward_s_vs_linear']:.3f} | {r['forward_peak_bytes'] / mib:.1f} "
            f"| {r['forward_peak_bytes_ratio']:.2f} "
            f"| {r['generate_s'] * 1e3:.1f} | {r['generate_s_ratio']:.3f} | {r['generate_s_vs_linear']:.3f} "
            f"| {r['generate_peak_bytes'] / mib:.1f} | {r['generate_peak_bytes_ratio']:.2f} "
            f"| {r['kv_per_pass_bytes'] / 1024:.0f} | {r['kv_shared_bytes'] / 1024:.0f} |"
        )
    result = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if not k.startswith("_")},
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "loop_cost.json"
    write_json_atomic(path, result)
    print(f"\nwrote {path}")
    return result


if __name__ == "__main__":
    main()
