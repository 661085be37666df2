"""Microbenchmark of the norm/MLP kernels: Triton vs PyTorch eager, torch.compile and Liger-Kernel.

For each op, dtype and [rows, width] it times forward, backward and forward+backward, measures peak
memory (CUDA), and reports achieved GB/s from the bytes the op must move (counted below) next to the
device's copy bandwidth measured in the same run. Prints a markdown table and writes JSON and a PNG.

    python benchmarks/kernels.py --quick
    python benchmarks/kernels.py --ops rms_norm swiglu --dtypes bf16 --rows 4096 65536 --widths 960 8192

Triton and Liger need a GPU; on a CPU-only machine only the PyTorch paths (eager, compile) run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from lightning_iter.atomic import write_json_atomic, write_text_atomic
from lightning_iter.kernels import (
    HAS_TRITON,
    fused_add_rms_norm,
    fused_add_rms_norm_ref,
    rms_norm,
    rms_norm_ref,
    swiglu,
    swiglu_ref,
)
from lightning_iter.kernels._triton_utils import triton

OPS = ("rms_norm", "fused_add_rms_norm", "swiglu")
IMPLS = ("triton", "eager", "compile", "liger")
DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32, "fp16": torch.float16}
DEFAULT_ROWS = (4096, 16384, 65536)
DEFAULT_WIDTHS = {"rms_norm": (576, 960, 2048), "fused_add_rms_norm": (576, 960, 2048), "swiglu": (1536, 2560, 8192)}
QUICK = {"rows": (4096,), "widths": {"rms_norm": (960,), "fused_add_rms_norm": (960,), "swiglu": (2560,)}}
EPS = 1e-5


@dataclass
class Result:
    """One benchmarked (op, dtype, rows, width, impl): times in ms, bandwidth in GB/s, memory in MiB."""

    op: str
    dtype: str
    rows: int
    width: int
    impl: str
    fwd_ms: float | None = None
    bwd_ms: float | None = None
    fwd_bwd_ms: float | None = None
    fwd_gbps: float | None = None
    bwd_gbps: float | None = None
    fwd_bwd_gbps: float | None = None
    fwd_bwd_frac_copy_bw: float | None = None
    peak_mib: float | None = None
    error: str | None = None
    bytes: dict[str, int] = field(default_factory=dict)


def bytes_moved(op: str, rows: int, width: int, dtype: torch.dtype) -> dict[str, int]:
    """Minimum HBM traffic of each pass: every input read once, every output written once.

    rms_norm      fwd: read x, w; write y.                bwd: read dy, x, w; write dx, dw.
    fused add     fwd: read x, residual, w; write y, h.   bwd: read dy, dh, h, w; write dx (= dresidual), dw.
    swiglu        fwd: read gate, up; write out.          bwd: read dout, gate, up; write dgate, dup.
    """
    s = torch.empty((), dtype=dtype).element_size()
    act = rows * width * s
    vec = width * s
    per_pass = {
        "rms_norm": (2 * act + vec, 3 * act + 2 * vec),
        "fused_add_rms_norm": (4 * act + vec, 4 * act + 2 * vec),
        "swiglu": (3 * act, 5 * act),
    }[op]
    return {"fwd": per_pass[0], "bwd": per_pass[1], "fwd_bwd": per_pass[0] + per_pass[1]}


class Timer:
    """Median wall time of a callable: CUDA events with an L2 flush per rep on GPU, perf_counter on CPU."""

    def __init__(self, device: torch.device, warmup: int, reps: int) -> None:
        self.device, self.warmup, self.reps = device, warmup, reps
        self.cuda = device.type == "cuda"
        self._flush = torch.empty(256 * 2**20, dtype=torch.int8, device=device) if self.cuda else None

    def __call__(self, fn: Callable[[], Any]) -> float:
        for _ in range(self.warmup):
            fn()
        times = []
        for _ in range(self.reps):
            if self.cuda:
                self._flush.zero_()
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                fn()
                end.record()
                torch.cuda.synchronize()
                times.append(start.elapsed_time(end))
            else:
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times)


def copy_bandwidth(device: torch.device, timer: Timer) -> float:
    """Device copy bandwidth in GB/s (read + write) from timing dst.copy_(src) on a large buffer."""
    n = (1024 if device.type == "cuda" else 256) * 2**20
    src = torch.empty(n, dtype=torch.uint8, device=device).fill_(1)
    dst = torch.empty_like(src)
    ms = timer(lambda: dst.copy_(src))
    return 2 * n / (ms * 1e-3) / 1e9


def _liger_fns() -> dict[str, Callable]:
    """Liger-Kernel's functional ops when installed (import guarded; signatures of liger-kernel >= 0.6)."""
    fns: dict[str, Callable] = {}
    try:
        from liger_kernel.transformers.functional import liger_rms_norm, liger_swiglu

        fns["rms_norm"] = lambda x, w: liger_rms_norm(x, w, EPS, 0.0, "llama", False)
        fns["swiglu"] = liger_swiglu
    except Exception:
        return fns
    try:
        from liger_kernel.ops.fused_add_rms_norm import LigerFusedAddRMSNormFunction

        fused = LigerFusedAddRMSNormFunction.apply
        fns["fused_add_rms_norm"] = lambda x, r, w: fused(x, r, w, EPS, 0.0, "llama", False)
    except Exception:
        pass
    return fns


def op_fn(op: str, impl: str, liger: dict[str, Callable]) -> Callable | None:
    """The callable for (op, impl), or None where that implementation does not exist."""
    ref = {"rms_norm": lambda x, w: rms_norm_ref(x, w, EPS),
           "fused_add_rms_norm": lambda x, r, w: fused_add_rms_norm_ref(x, r, w, EPS),
           "swiglu": swiglu_ref}[op]  # fmt: skip
    if impl == "eager":
        return ref
    if impl == "compile":
        return torch.compile(ref, dynamic=False)
    if impl == "triton":
        return {"rms_norm": lambda x, w: rms_norm(x, w, EPS, backend="triton"),
                "fused_add_rms_norm": lambda x, r, w: fused_add_rms_norm(x, r, w, EPS, backend="triton"),
                "swiglu": lambda g, u: swiglu(g, u, backend="triton")}[op]  # fmt: skip
    return liger.get(op)


def make_inputs(op: str, rows: int, width: int, dtype: torch.dtype, device: torch.device) -> list[torch.Tensor]:
    """Inputs requiring grad: x[, residual], weight for the norms; gate, up for swiglu."""

    def act() -> torch.Tensor:
        return torch.randn(rows, width, device=device, dtype=dtype, requires_grad=True)

    weight = torch.ones(width, device=device, dtype=dtype, requires_grad=True)
    return {"rms_norm": lambda: [act(), weight], "fused_add_rms_norm": lambda: [act(), act(), weight],
            "swiglu": lambda: [act(), act()]}[op]()  # fmt: skip


def bench_one(
    op: str, impl: str, fn: Callable, rows: int, width: int, dtype_name: str, device: torch.device, timer: Timer,
    copy_gbps: float,
) -> Result:  # fmt: skip
    """Time forward, backward and forward+backward of fn on fresh inputs, and its peak memory on CUDA."""
    res = Result(op, dtype_name, rows, width, impl, bytes=bytes_moved(op, rows, width, DTYPES[dtype_name]))
    try:
        inputs = make_inputs(op, rows, width, DTYPES[dtype_name], device)

        def forward() -> tuple[torch.Tensor, ...]:
            out = fn(*inputs)
            return out if isinstance(out, tuple) else (out,)

        outs = forward()
        grads = [torch.randn_like(o) for o in outs]

        def backward() -> None:
            torch.autograd.grad(outs, inputs, grads, retain_graph=True)

        def forward_backward() -> None:
            torch.autograd.grad(forward(), inputs, grads)

        res.fwd_ms, res.bwd_ms, res.fwd_bwd_ms = timer(forward), timer(backward), timer(forward_backward)
        for key in ("fwd", "bwd", "fwd_bwd"):
            setattr(res, f"{key}_gbps", res.bytes[key] / (getattr(res, f"{key}_ms") * 1e-3) / 1e9)
        res.fwd_bwd_frac_copy_bw = res.fwd_bwd_gbps / copy_gbps
        if device.type == "cuda":
            del outs
            torch.cuda.synchronize()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            forward_backward()
            torch.cuda.synchronize()
            res.peak_mib = (torch.cuda.max_memory_allocated() - base) / 2**20
    except Exception as err:  # one failing configuration (e.g. out of memory) must not end the run
        res.error = f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
    return res


def _fmt(v: float | None, digits: int = 3) -> str:
    if v is None:
        return "n/a"
    return f"{v:.{digits}g}" if abs(v) < 1000 else f"{v:.0f}"


def markdown_table(results: Sequence[Result]) -> str:
    """The results as a markdown table, one line per (op, dtype, shape, impl)."""
    head = ("| op | dtype | rows | width | impl | fwd ms | bwd ms | fwd+bwd ms | fwd GB/s | bwd GB/s "
            "| fwd+bwd GB/s | fwd+bwd % of copy BW | peak MiB |")  # fmt: skip
    n_cols = head.count("|") - 1
    lines = [head, "|" + "---|" * n_cols]
    for r in results:
        if r.error:
            cells = [r.op, r.dtype, str(r.rows), str(r.width), r.impl, f"error: {r.error}"] + [""] * (n_cols - 6)
            lines.append("| " + " | ".join(cells) + " |")
            continue
        pct = None if r.fwd_bwd_frac_copy_bw is None else 100 * r.fwd_bwd_frac_copy_bw
        cells = [r.op, r.dtype, str(r.rows), str(r.width), r.impl, _fmt(r.fwd_ms), _fmt(r.bwd_ms), _fmt(r.fwd_bwd_ms),
                 _fmt(r.fwd_gbps), _fmt(r.bwd_gbps), _fmt(r.fwd_bwd_gbps), _fmt(pct, 2), _fmt(r.peak_mib)]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: Sequence[Result], copy_gbps: float, path: Path) -> None:
    """Bar chart of forward+backward GB/s per configuration and implementation, one panel per op."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ops = [op for op in OPS if any(r.op == op for r in results)]
    fig, axes = plt.subplots(len(ops), 1, figsize=(10, 3.2 * len(ops)), squeeze=False)
    for ax, op in zip(axes[:, 0], ops):
        rs = [r for r in results if r.op == op and r.fwd_bwd_gbps is not None]
        configs = sorted({(r.dtype, r.rows, r.width) for r in rs}, key=lambda c: (c[0], c[2], c[1]))
        impls = [i for i in IMPLS if any(r.impl == i for r in rs)]
        width = 0.8 / max(len(impls), 1)
        for k, impl in enumerate(impls):
            vals = {(r.dtype, r.rows, r.width): r.fwd_bwd_gbps for r in rs if r.impl == impl}
            xs = [i + k * width for i in range(len(configs))]
            ax.bar(xs, [vals.get(c, 0.0) for c in configs], width, label=impl)
        ax.axhline(copy_gbps, color="k", linestyle="--", linewidth=1, label="copy bandwidth")
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(configs))])
        ax.set_xticklabels([f"{d}\n{r}x{w}" for d, r, w in configs], fontsize=7)
        ax.set_ylabel("fwd+bwd GB/s")
        ax.set_title(op)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="benchmarks/kernels.py",
        description="Benchmark RMSNorm, fused add+RMSNorm and SwiGLU: Triton vs eager, torch.compile and Liger.",
    )
    p.add_argument("--ops", nargs="+", choices=OPS, default=list(OPS), help="ops to run (default: all)")
    p.add_argument("--dtypes", nargs="+", choices=list(DTYPES), default=["bf16", "fp32"], help="default: bf16 fp32")
    p.add_argument("--rows", nargs="+", type=int, help=f"token rows (default: {' '.join(map(str, DEFAULT_ROWS))})")
    p.add_argument(
        "--widths",
        nargs="+",
        type=int,
        help="hidden widths for every op (default: 576 960 2048 for the norms, 1536 2560 8192 for swiglu)",
    )
    p.add_argument(
        "--impls",
        nargs="+",
        choices=IMPLS,
        default=list(IMPLS),
        help="implementations (default: all that can run here)",
    )
    p.add_argument("--quick", action="store_true", help="tiny run: 4096 rows, one width per op, few reps")
    p.add_argument("--warmup", type=int, help="untimed calls before timing (default 5, quick 2)")
    p.add_argument("--reps", type=int, help="timed calls, the median is reported (default 20, quick 5)")
    p.add_argument("--device", default="auto", help="auto (cuda if available), cuda or cpu")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/kernels"), help="output folder")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns a process exit code."""
    args = parse_args(argv)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)  # fmt: skip
    rows = args.rows or (QUICK["rows"] if args.quick else DEFAULT_ROWS)
    warmup = args.warmup if args.warmup is not None else (2 if args.quick else 5)
    reps = args.reps if args.reps is not None else (5 if args.quick else 20)
    timer = Timer(device, warmup, reps)
    interpreted = os.environ.get("TRITON_INTERPRET", "0") == "1"
    liger = _liger_fns() if device.type == "cuda" else {}
    notes = []
    impls = list(args.impls)
    if device.type != "cuda" or not HAS_TRITON or interpreted:
        why = ("no CUDA device" if device.type != "cuda" else "triton is not installed" if not HAS_TRITON
               else "TRITON_INTERPRET=1 is set")  # fmt: skip
        notes.append(f"Triton timings need a GPU with compiled Triton ({why}): Triton and Liger are skipped; "
                     "only the PyTorch paths (eager, torch.compile) are timed.")  # fmt: skip
        impls = [i for i in impls if i not in ("triton", "liger")]
    elif "liger" in impls and not liger:
        notes.append("Liger-Kernel is not installed (pip install liger-kernel): its columns are skipped.")
    for note in notes:
        print(f"NOTE: {note}", file=sys.stderr)

    copy_gbps = copy_bandwidth(device, timer)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(
        f"device: {device_name} ({device}); copy bandwidth {copy_gbps:.1f} GB/s; timing: median of {reps} "
        f"after {warmup} warmup{' (CUDA events, L2 flushed)' if device.type == 'cuda' else ' (perf_counter)'}\n"
    )

    configs = [
        (op, dt, r, w, impl)
        for op in args.ops
        for dt in args.dtypes
        for w in (args.widths or (QUICK["widths"][op] if args.quick else DEFAULT_WIDTHS[op]))
        for r in rows
        for impl in impls
        if impl != "liger" or op in liger
    ]
    try:
        from tqdm import tqdm

        progress = tqdm(configs, desc="kernels", unit="config", file=sys.stderr)
    except ImportError:
        progress = configs
    results = []
    for op, dt, r, w, impl in progress:
        if impl == "compile":
            torch._dynamo.reset()
        results.append(bench_one(op, impl, op_fn(op, impl, liger), r, w, dt, device, timer, copy_gbps))
        if device.type == "cuda":
            torch.cuda.empty_cache()

    table = markdown_table(results)
    print(table)
    for note in notes:
        print(f"\n> {note}")
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {
        "device": device_name, "device_type": device.type, "torch": torch.__version__,
        "triton": triton.__version__ if HAS_TRITON else None,
        "copy_bandwidth_GBps": copy_gbps, "warmup": warmup, "reps": reps, "notes": notes,
        "argv": list(argv) if argv is not None else sys.argv[1:],
    }  # fmt: skip
    payload = {**meta, "results": [asdict(r) for r in results]}
    write_json_atomic(args.out / "kernels.json", payload, default=str)
    write_text_atomic(args.out / "kernels.md", table + "\n" + "".join(f"\n> {n}\n" for n in notes))
    plot(results, copy_gbps, args.out / "kernels.png")
    print(f"\nwrote {args.out / 'kernels.json'}, {args.out / 'kernels.md'} and {args.out / 'kernels.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
