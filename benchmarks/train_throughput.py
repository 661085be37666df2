"""Training throughput and MFU: presets x {baseline, a growth stage, a loop} x kernels {triton, torch} x compile.

    python benchmarks/train_throughput.py                      # GPU: smollm-135m and smollm-360m, every combination
    python benchmarks/train_throughput.py --presets smollm-360m --variants baseline --compile on
    python benchmarks/train_throughput.py --smoke              # CPU: tiny, 2 timed steps, torch kernels, eager

One training step is what `lightning_iter fit` runs per batch, without Lightning: forward and loss (bf16 autocast on
CUDA), backward, gradient clipping at 1.0, fused AdamW. Variants (L = the preset's layers):
- baseline: L unique layers, identity plan;
- grow: a mid-run growth stage, L/2 layers grown to 3L/4 by the MIDAS/LIDAS copy (the depth strategy's own `apply`,
  so copied layers and, with compile, their recompiled graphs are what is timed);
- loop: Loop(L/4 - L/2x2 - L/4) (seed 000 App. E): L unique layers, effective depth 3L/2.
tokens/s = batch x seq_len x steps / wall time (CUDA synchronised); MFU = tokens/s x training FLOPs per token
(model/flops.py, at the variant's effective depth) / the device's dense peak (model/hardware.py); none on CPU.
`--budget_s` stops starting new combinations once spent (the rest are reported as skipped), so a GPU run of the
whole grid finishes unattended in a known time. Writes JSON through `write_json_atomic`.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path
from typing import Any

from lightning_iter.atomic import write_json_atomic

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("baseline", "grow", "loop")


def build(preset: str, variant: str, kernels: str, compile_layers: bool, device: str, n_layers: int | None) -> Any:
    """The model of one combination, on `device`, with the plan of `variant`."""
    import torch

    from lightning_iter.depth import get_strategy
    from lightning_iter.model import ModelConfig, Transformer
    from lightning_iter.model.plan import loop_plan

    torch.manual_seed(0)
    overrides: dict[str, Any] = {"kernels": kernels}
    if n_layers is not None:
        overrides["n_layers"] = n_layers
    config = ModelConfig.from_name(preset, **overrides)
    layers = config.n_layers
    if variant == "grow":
        half, target = max(1, layers // 2), max(2, (3 * layers) // 4)
        strategy = get_strategy(name="midas", initial_depth=half, target_depth=layers, block_size=1, horizon=1000)
        strategy.setup(config)
        model = Transformer(config.__class__(**{**config.to_dict(), "n_layers": half})).to(device)
        while model.n_unique < target:
            strategy.apply(model, None)
    elif variant == "loop":
        quarter = max(1, layers // 4)
        block = max(1, layers - 2 * quarter)
        model = Transformer(config, loop_plan(block, 2, encode=quarter, decode=quarter)).to(device)
    else:
        model = Transformer(config).to(device)
    if compile_layers:
        model.compile_layers()
    return model


def measure(args: argparse.Namespace, model: Any, device: str) -> dict[str, float]:
    """Seconds per step over `args.steps` timed steps after `args.warmup`, and peak CUDA memory."""
    import torch

    from lightning_iter.fused_optimizer import fuse_by_default

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    fuse_by_default(optimizer)
    vocab = model.config.vocab_size
    tokens = torch.randint(0, vocab, (args.batch, args.seq_len + 1), device=device)
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    cuda = device.startswith("cuda")
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else torch.autocast("cpu", enabled=False)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = model.loss(inputs, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    for _ in range(args.warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")
    return {"step_s": elapsed / args.steps, "peak_gib": peak}


def run_one(args: argparse.Namespace, combo: dict[str, Any], device: str, peak: float | None) -> dict[str, Any]:
    """One row: the combination, its effective depth, tokens/s, MFU; `status` says why a row has no numbers."""
    import torch

    from lightning_iter.kernels import HAS_TRITON
    from lightning_iter.model import training_flops_per_token
    from lightning_iter.model.hardware import mfu

    row: dict[str, Any] = dict(combo)
    if combo["kernels"] == "triton" and not (HAS_TRITON and device.startswith("cuda")):
        return {**row, "status": "skipped: triton kernels need CUDA and triton"}
    try:
        model = build(combo["preset"], combo["variant"], combo["kernels"], combo["compile"], device, args.n_layers)
        timing = measure(args, model, device)
    except torch.OutOfMemoryError:
        return {**row, "status": "out of memory"}
    except Exception as err:  # an unattended grid reports a broken combination and goes on
        return {**row, "status": f"error: {type(err).__name__}: {str(err).splitlines()[0][:200]}"}
    tokens_per_s = args.batch * args.seq_len / timing["step_s"]
    flops_per_token = training_flops_per_token(model.config, model.depth, args.seq_len)
    row.update(
        status="ok",
        unique_layers=model.n_unique,
        depth=model.depth,
        params=model.num_parameters(),
        step_ms=timing["step_s"] * 1e3,
        tokens_per_s=tokens_per_s,
        model_tflops_per_s=tokens_per_s * flops_per_token / 1e12,
        mfu=mfu(tokens_per_s * flops_per_token, peak),
        peak_gib=timing["peak_gib"],
    )
    del model
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return row


def grid(args: argparse.Namespace) -> list[dict[str, Any]]:
    return [
        {"preset": preset, "variant": variant, "kernels": kernels, "compile": compile_ == "on"}
        for preset in args.presets
        for variant in args.variants
        for kernels in args.kernels
        for compile_ in args.compile
    ]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=None, help="default: smollm-135m smollm-360m (smoke: tiny)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--kernels", nargs="+", choices=("triton", "torch"), help="default: both (smoke: torch)")
    parser.add_argument("--compile", nargs="+", choices=("off", "on"), help="default: off on (smoke: off)")
    parser.add_argument("--n_layers", type=int, default=None, help="override the presets' layer count")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq_len", type=int, default=2048)
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps (compilation happens here)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps")
    parser.add_argument("--budget_s", type=float, default=None, help="start no combination after this many seconds")
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cuda or cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--smoke", action="store_true", help="CPU smoke run: tiny, 2 layers, 2 steps, torch eager")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "train_throughput")
    args = parser.parse_args(argv)
    smoke = {"presets": ["tiny"], "kernels": ["torch"], "compile": ["off"]}
    full = {"presets": ["smollm-135m", "smollm-360m"], "kernels": ["triton", "torch"], "compile": ["off", "on"]}
    for key, value in (smoke if args.smoke else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.smoke:
        args.n_layers, args.batch, args.seq_len, args.warmup, args.steps = 4, 2, 32, 1, 2
        args.device = "cpu" if args.device == "auto" else args.device

    import torch

    from lightning_iter.model.hardware import compute_dtype, peak_flops

    torch.set_num_threads(args.threads)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    name = torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu"
    peak = peak_flops(name, compute_dtype("bf16-mixed", False)) if device.startswith("cuda") else None
    start = time.perf_counter()
    rows = []
    for combo in grid(args):
        if args.budget_s is not None and time.perf_counter() - start > args.budget_s:
            rows.append({**combo, "status": "skipped: time budget"})
            continue
        rows.append(run_one(args, combo, device, peak))
        print(f"{combo}: {rows[-1]['status']}", file=sys.stderr)

    print(f"\n## Training throughput: {name}, batch {args.batch} x {args.seq_len}, bf16 autocast on CUDA\n")
    print(f"peak (dense bf16): {peak / 1e12:.1f} TFLOP/s\n" if peak else "no peak FLOP/s for this device: no MFU\n")
    print("| preset | variant | kernels | compile | layers | depth | step ms | tokens/s | TFLOP/s | MFU | peak GiB |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        head = f"| {r['preset']} | {r['variant']} | {r['kernels']} | {'on' if r['compile'] else 'off'} "
        if r["status"] != "ok":
            print(f"{head}| {r['status']} |||||||")
            continue
        mfu_text = f"{r['mfu'] * 100:.1f} %" if r["mfu"] is not None else "-"
        print(
            f"{head}| {r['unique_layers']} | {r['depth']} | {r['step_ms']:.1f} | {r['tokens_per_s']:,.0f} "
            f"| {r['model_tflops_per_s']:.2f} | {mfu_text} | {r['peak_gib']:.2f} |"
        )
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    result = {"settings": settings, "device": name, "peak_flops": peak, "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "train_throughput.json"
    write_json_atomic(path, result)
    print(f"\nwrote {path}")
    return result


if __name__ == "__main__":
    main()
