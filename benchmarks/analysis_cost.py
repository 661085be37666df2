"""CPU time and peak memory of each depth analysis, and what they predict for a 1.7B model (issue 14 item 5).

    python benchmarks/analysis_cost.py [--shapes tiny smollm-135m] [--batch 1] [--seq_len 64]
        [--out benchmarks/results/analysis_cost]

Each analysis runs on random-init models of each preset shape at its full depth L and at L/2 (same width and
vocabulary), interleaved (all shapes and depths of one repetition before the next). Peak memory is the growth
of the resident set above the loaded model while the analysis runs (Linux: VmHWM, reset through
/proc/self/clear_refs before each run, after malloc_trim; allocations over 64 KiB are mmap-ed so freed
memory leaves the resident set), so the model's weights are not in it; page-granular, about +-1 MiB.

The per-depth growth is (peak(L) - peak(L/2)) / (L - L/2). The extrapolation to smollm-1.7b (24 layers,
width 2048, vocab 49152) at the analyses' default batch (8 x 128 tokens) assumes what the code does:
per-depth memory is kept residuals, linear in tokens x width; the rest (one depth's vocabulary-sized logits)
is linear in tokens x vocab; the similarity analysis scales with one layer's FFN weights instead; the tuned
lens adds its translators, their gradients and SGD momentum exactly (3 x L x d^2 x 4 bytes, subtracted from
the measurement before the fit). The 1.7B estimate adds the fp32 weights. Times: CPU seconds (process time).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from lightning_iter.atomic import write_json_atomic

ROOT = Path(__file__).resolve().parents[1]
ANALYSES = ("depth_score", "tuned_lens", "interventions", "future_effects", "contributions", "similarity")
TARGET = "smollm-1.7b"
TARGET_TOKENS = 8 * 128  # AnalysisOptions batch_size x the analyze command's default --seq_len
GPU_BYTES = 80 * 2**30
MIB = 2**20


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _libc() -> Any:
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def fixed_mmap_threshold() -> None:
    """glibc: serve every allocation over 64 KiB by mmap (returned to the OS on free), so peaks are not hidden."""
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(-3, 65536)  # M_MMAP_THRESHOLD; setting it also turns off its dynamic growth


def reset_peak() -> bool:
    """Return freed heap to the OS, then reset the resident-set high-water mark (Linux >= 4.0); False if impossible."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def build(preset: str, n_layers: int, vocab: int | None, seed: int = 0):
    """A random-init model of `preset`'s width with `n_layers` layers (and `vocab` if given)."""
    import torch

    from lightning_iter.model import ModelConfig, Transformer

    torch.manual_seed(seed)
    overrides: dict[str, Any] = {"n_layers": n_layers, "kernels": "torch"}
    if vocab is not None:
        overrides["vocab_size"] = vocab
    return Transformer(ModelConfig.from_name(preset, **overrides)).eval()


def options(args: argparse.Namespace):
    """Small work sizes (CPU): every analysis still runs its full loop over depths."""
    from lightning_iter.analysis import AnalysisOptions

    return AnalysisOptions(
        batch_size=args.batch,
        n_boundaries=1,
        sizes=(1, 2),
        operations=("skip", "swap"),
        lens_steps=args.lens_steps,
        lens_tokens_per_step=args.batch * args.seq_len,
        n_items=0,
        intervention_items=0,
        block_size=1,
        progress=False,
    )


def measure(model: Any, name: str, args: argparse.Namespace) -> dict[str, float | None]:
    """CPU seconds and peak resident-set growth (bytes) of one analysis on `model`."""
    import torch

    from lightning_iter.analysis import ANALYSES as RUN
    from lightning_iter.analysis import Context
    from lightning_iter.data import ByteTokenizer

    tokens = torch.randint(
        0, model.config.vocab_size, (2 * args.batch, args.seq_len), generator=torch.Generator().manual_seed(1)
    )
    with tempfile.TemporaryDirectory() as folder:
        ctx = Context(model, ByteTokenizer(), tokens, Path(folder), options(args), {"depth": {"block_size": 1}})
        can_reset = reset_peak()
        base = _status_kib("VmRSS")
        start = time.process_time()
        RUN[name](ctx)
        seconds = time.process_time() - start
        peak = _status_kib("VmHWM")
    grown = None if not can_reset or base is None or peak is None else max(0, peak - base) * 1024
    return {"cpu_s": seconds, "peak_bytes": grown}


def lens_state_bytes(depth: int, width: int) -> int:
    """Tuned-lens translators + their gradients + SGD momentum, fp32."""
    return 3 * 4 * depth * (width * width + width)


def extrapolate(rows: list[dict[str, Any]], shape: str, source: Any, tokens: int) -> list[dict[str, Any]]:
    """Per analysis: the per-depth growth measured on `shape` (config `source`) and the peak it predicts for
    TARGET at TARGET_TOKENS per batch (see the module docstring)."""
    from lightning_iter.model import ModelConfig

    target = ModelConfig.from_name(TARGET)
    scale = TARGET_TOKENS / tokens
    weights = 4 * _parameters(target)
    out = []
    for name in ANALYSES:
        by_depth = {r["depth"]: r for r in rows if r["shape"] == shape and r["analysis"] == name}
        if len(by_depth) < 2:
            continue
        (low, lo), *_, (high, hi) = sorted(by_depth.items())
        if lo["peak_bytes"] is None or hi["peak_bytes"] is None:
            continue
        lens = (lambda d: lens_state_bytes(d, source.d_model)) if name == "tuned_lens" else (lambda d: 0)
        a, b = lo["peak_bytes"] - lens(low), hi["peak_bytes"] - lens(high)
        per_depth = max(0.0, (b - a) / (high - low))
        rest = max(0.0, a - per_depth * low)
        if name == "similarity":  # one layer's FFN weights (double precision products), not tokens
            ratio = (target.d_model * target.ffn_dim) / (source.d_model * source.ffn_dim)
            per_depth_t, rest_t = per_depth * ratio, rest * ratio
        else:
            per_depth_t = per_depth * scale * target.d_model / source.d_model
            rest_t = rest * scale * target.vocab_size / source.vocab_size
        lens_t = lens_state_bytes(target.n_layers, target.d_model) if name == "tuned_lens" else 0
        total = weights + rest_t + per_depth_t * target.n_layers + lens_t
        out.append(
            {
                "analysis": name,
                "measured_on": shape,
                "per_depth_mib": per_depth / MIB,
                "target_per_depth_mib": per_depth_t / MIB,
                "target_rest_mib": rest_t / MIB,
                "target_lens_state_mib": lens_t / MIB,
                "target_weights_gib": weights / 2**30,
                "target_peak_gib": total / 2**30,
                "fits_80gb": total < GPU_BYTES,
            }
        )
    return out


def _parameters(config: Any) -> int:
    d, f, v, n = config.d_model, config.ffn_dim, config.vocab_size, config.n_layers
    kv = d * config.n_kv_heads // config.n_heads
    layer = 2 * d * d + 2 * d * kv + 3 * d * f + 2 * d
    return n * layer + v * d * (1 if config.tie_embeddings else 2) + d


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=["tiny", "smollm-135m"], help="model presets (random init)")
    parser.add_argument("--depths", nargs="+", type=int, default=None, help="depths per shape (default: L/2 and L)")
    parser.add_argument("--vocab", type=int, default=None, help="override every shape's vocabulary (smoke tests)")
    parser.add_argument("--analyses", nargs="+", default=list(ANALYSES), choices=ANALYSES)
    parser.add_argument("--batch", type=int, default=1, help="rows per batch (two batches are analysed)")
    parser.add_argument("--seq_len", type=int, default=64)
    parser.add_argument("--lens_steps", type=int, default=2)
    parser.add_argument("--reps", type=int, default=1, help="repetitions, interleaved (min time, max peak)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "analysis_cost")
    args = parser.parse_args(argv)

    import torch

    from lightning_iter.model import ModelConfig

    torch.set_num_threads(args.threads)
    fixed_mmap_threshold()
    plan = []
    for shape in args.shapes:
        full = ModelConfig.from_name(shape).n_layers
        depths = args.depths or [max(1, full // 2), full]
        plan += [(shape, d) for d in sorted(set(depths))]
    models = {key: build(key[0], key[1], args.vocab) for key in plan}
    smallest = min(models, key=lambda k: sum(p.numel() for p in models[k].parameters()))
    for name in args.analyses:  # warm-up: lazy imports, allocator pools and matplotlib's first figure stay out
        measure(models[smallest], name, args)
    results: dict[tuple[str, int, str], dict[str, Any]] = {}
    for _ in range(args.reps):
        for key in plan:
            for name in args.analyses:
                m = measure(models[key], name, args)
                old = results.get((*key, name))
                if old is not None:
                    m["cpu_s"] = min(m["cpu_s"], old["cpu_s"])
                    if m["peak_bytes"] is not None and old["peak_bytes"] is not None:
                        m["peak_bytes"] = max(m["peak_bytes"], old["peak_bytes"])
                results[(*key, name)] = m
    rows = [
        {"shape": s, "depth": d, "analysis": n, "cpu_s": m["cpu_s"], "peak_bytes": m["peak_bytes"]}
        for (s, d, n), m in results.items()
    ]
    tokens = 2 * args.batch * args.seq_len
    biggest = args.shapes[-1]
    source = models[max((k for k in models if k[0] == biggest), key=lambda k: k[1])].config
    estimate = extrapolate(rows, biggest, source, args.batch * args.seq_len)
    print(f"analysis cost, CPU ({args.threads} thread), {tokens} tokens ({2} batches of {args.batch} x {args.seq_len})")
    print("| shape | depth | analysis | CPU s | peak MiB above model | CPU s vs L/2 |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        half = next((x for x in rows if x["shape"] == r["shape"] and x["analysis"] == r["analysis"]), r)
        ratio = r["cpu_s"] / half["cpu_s"] if half["cpu_s"] > 0 else math.nan
        peak = "n/a" if r["peak_bytes"] is None else f"{r['peak_bytes'] / MIB:.1f}"
        print(f"| {r['shape']} | {r['depth']} | {r['analysis']} | {r['cpu_s']:.3f} | {peak} | {ratio:.2f} |")
    if estimate:
        print(
            f"\nextrapolated to {TARGET} (24 layers, width 2048, vocab 49152), {TARGET_TOKENS} tokens per batch, fp32:"
        )
        print(
            "| analysis | per-depth MiB measured | per-depth MiB at 1.7B | rest MiB | lens state MiB "
            "| peak GiB incl. weights | fits 80 GB |"
        )
        print("|---|---|---|---|---|---|---|")
        for e in estimate:
            print(
                f"| {e['analysis']} | {e['per_depth_mib']:.2f} | {e['target_per_depth_mib']:.1f} | "
                f"{e['target_rest_mib']:.0f} | {e['target_lens_state_mib']:.0f} | {e['target_peak_gib']:.1f} | "
                f"{'yes' if e['fits_80gb'] else 'NO'} |"
            )
    result = {"tokens": tokens, "threads": args.threads, "rows": rows, "extrapolation": estimate, "target": TARGET}
    write_json_atomic(Path(args.out) / "analysis_cost.json", result)
    return result


if __name__ == "__main__":
    main()
