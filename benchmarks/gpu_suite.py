"""The GPU benchmark suite: kernels, training throughput/MFU and loop cost, unattended, in under 8 minutes, one JSON.

    python benchmarks/gpu_suite.py                       # on a CUDA machine: writes benchmarks/results/gpu_suite/
    python benchmarks/gpu_suite.py --smoke               # CPU: each benchmark's smallest run (what the test runs)

Each benchmark runs as its own process under a time limit (a crash or a hang in one leaves the others' results);
the train_throughput grid also gets a budget after which it starts no new combination. The limits add up to
`--total_s` (default 450 s). The one JSON holds, per benchmark, the command, exit code, seconds, the tail of its
output and the JSON it wrote. Goals (issue 15): kernels at >= 90 % of the measured copy bandwidth; >= 45 % MFU for
smollm-360m on one H100/H200.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lightning_iter.atomic import write_json_atomic

ROOT = Path(__file__).resolve().parents[1]
SHARES = {"kernels": 0.25, "train_throughput": 0.6, "loop_cost": 0.15}  # of --total_s


def plans(args: argparse.Namespace) -> dict[str, list[str]]:
    """Each benchmark's arguments (the output folder is added per benchmark)."""
    if args.smoke:
        return {
            "kernels": [
                "--quick",
                "--device",
                "cpu",
                "--ops",
                "rms_norm",
                "--dtypes",
                "fp32",
                "--impls",
                "eager",
                "--reps",
                "1",
            ],
            "train_throughput": ["--smoke", "--variants", "baseline"],
            "loop_cost": [
                *("--n_layers", "2", "--block", "0:1", "--max_extra", "1", "--batch", "1", "--seq_len", "16"),
                *("--prompt_len", "4", "--new_tokens", "2", "--reps", "1", "--skip_memory"),
            ],
        }
    budget = SHARES["train_throughput"] * args.total_s
    return {
        "kernels": ["--dtypes", "bf16", "--widths", "960", "2560", "--rows", "16384", "65536"],
        "train_throughput": [
            *("--presets", *args.presets, "--batch", str(args.batch), "--seq_len", str(args.seq_len)),
            *("--budget_s", f"{budget * 0.75:.0f}"),  # the last combination started still has to finish
        ],
        "loop_cost": ["--arch", "smollm-360m", "--n_layers", "32", "--block", "12:20", "--device", "cuda"],
    }


def run_benchmark(name: str, flags: list[str], out: Path, limit_s: float) -> dict[str, Any]:
    """Run benchmarks/<name>.py in a child process; its result JSON, exit code and output tail."""
    cmd = [sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), *flags, "--out", str(out / name)]
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=limit_s, env={**os.environ})
        code, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as err:
        code = "timeout"
        output = (err.stdout or b"").decode(errors="replace") + (err.stderr or b"").decode(errors="replace")
    path = out / name / f"{name}.json"
    result = json.loads(path.read_text()) if path.is_file() else None
    return {
        "command": cmd,
        "returncode": code,
        "seconds": time.perf_counter() - start,
        "output_tail": output[-4000:],
        "result": result,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="CPU: each benchmark's smallest run")
    parser.add_argument("--total_s", type=float, default=450.0, help="time limits of the three benchmarks, summed")
    parser.add_argument("--presets", nargs="+", default=["smollm-360m", "smollm-135m"], help="train_throughput")
    parser.add_argument("--batch", type=int, default=8, help="train_throughput batch")
    parser.add_argument("--seq_len", type=int, default=2048, help="train_throughput sequence length")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gpu_suite")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    suite: dict[str, Any] = {"settings": {k: str(v) for k, v in vars(args).items()}, "benchmarks": {}}
    for name, flags in plans(args).items():
        limit = SHARES[name] * args.total_s
        suite["benchmarks"][name] = run_benchmark(name, flags, args.out, limit)
        entry = suite["benchmarks"][name]
        print(f"{name}: exit {entry['returncode']} in {entry['seconds']:.0f} s", file=sys.stderr)
    suite["seconds"] = time.perf_counter() - start

    print("\n## GPU suite\n")
    print("| benchmark | exit | seconds | result |")
    print("|---|---|---:|---|")
    for name, entry in suite["benchmarks"].items():
        wrote = f"{name}/{name}.json" if entry["result"] is not None else "no JSON"
        print(f"| {name} | {entry['returncode']} | {entry['seconds']:.0f} | {wrote} |")
    throughput = suite["benchmarks"]["train_throughput"]["result"] or {"rows": []}
    for row in throughput["rows"]:
        if row.get("status") == "ok":
            mfu = f"{row['mfu'] * 100:.1f} %" if row.get("mfu") is not None else "-"
            print(
                f"train_throughput {row['preset']} {row['variant']} {row['kernels']} compile={row['compile']}: "
                f"{row['tokens_per_s']:,.0f} tokens/s, MFU {mfu}"
            )
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "gpu_suite.json"
    write_json_atomic(path, suite)
    print(f"\nwrote {path} ({suite['seconds']:.0f} s)")
    return suite


if __name__ == "__main__":
    main()
