"""Time and peak memory of importing a Hugging Face directory of real size (smollm-360m shapes, random weights).

    python benchmarks/hf_import.py [--arch smollm-360m] [--dtype float32] \
        [--out benchmarks/results/hf_import/<arch>-<dtype>]

Writes the directory once with our exporter (`model.export.save_hf`), then imports it in fresh
subprocesses, each measuring wall time and the process's peak resident memory (VmHWM) above its
RSS right before the import, then again after reading every weight once (as a first forward does):
  * `from_hf`: `lightning_iter.model.hf.from_hf` (meta-device model; `safe_open` maps each tensor, no copy);
  * `from_hf(dtype=other)`: the same, converting each tensor to the other dtype (fp32 <-> bf16) as it is read;
  * `naive`: build the model normally (random init), `safetensors.torch.load_file`, `load_state_dict`.
Prints a markdown table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lightning_iter.atomic import write_json_atomic

ROOT = Path(__file__).resolve().parents[1]
MIB = 2**20
METHODS = ("from_hf", "from_hf(dtype=other)", "naive")


def _status_bytes(field: str) -> int:
    """`VmRSS` (resident now) or `VmHWM` (peak resident; unlike ru_maxrss it is not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field} (this benchmark needs Linux)")


def _rss_bytes() -> int:
    return _status_bytes("VmRSS")


def _import_naive(directory: Path) -> Any:
    """The textbook way: build the model (random init), `load_file` every tensor, then `load_state_dict`."""
    from safetensors.torch import load_file

    from lightning_iter.model import Transformer
    from lightning_iter.model.hf import CONFIG_FILE, config_from_hf

    model = Transformer(config_from_hf(json.loads((directory / CONFIG_FILE).read_text())))
    state = {name.removeprefix("model."): tensor for name, tensor in load_file(directory / "model.safetensors").items()}
    model.load_state_dict(state, strict=True)
    return model


def child(method: str, directory: Path) -> None:
    """Runs in a fresh process: import once, print one JSON line."""
    import torch  # counted in the baseline RSS, not in the import

    import lightning_iter.model.hf  # noqa: F401

    before = _rss_bytes()
    start = time.perf_counter()
    if method == "naive":
        model = _import_naive(directory)
    else:
        from lightning_iter.model.hf import from_hf

        stored = json.loads((directory / "config.json").read_text())["torch_dtype"]
        other = torch.bfloat16 if stored == "float32" else torch.float32
        model = from_hf(directory, dtype=None if method == "from_hf" else other)
    seconds = time.perf_counter() - start
    peak = _status_bytes("VmHWM")
    with torch.no_grad():  # what a first forward does: every weight page is read (mmap-backed ones page in now)
        for param in model.parameters():
            param.sum()
    touched_seconds = time.perf_counter() - start
    peak_touched = _status_bytes("VmHWM")
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    print(
        json.dumps(
            {
                "method": method,
                "seconds": seconds,
                "rss_before": before,
                "peak_rss": peak,
                "seconds_touched": touched_seconds,
                "peak_rss_touched": peak_touched,
                "rss_after": _rss_bytes(),
                "param_bytes": params,
            }
        )
    )


def write_directory(arch: str, dtype_name: str, directory: Path) -> int:
    """Export a randomly initialised `arch` model to `directory` (reused when present); returns its weight bytes."""
    import torch

    from lightning_iter.model import ModelConfig, Transformer
    from lightning_iter.model.export import save_hf

    weights = directory / "model.safetensors"
    if not weights.is_file():
        torch.manual_seed(0)
        print(f"writing a random {arch} ({dtype_name}) to {directory} ...", flush=True)
        model = Transformer(ModelConfig.from_name(arch)).to(getattr(torch, dtype_name))
        save_hf(model, directory, overwrite=True)
        del model
    return weights.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="smollm-360m")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--dir", type=Path, default=None, help="where the HF directory is written (default /tmp/...)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="default benchmarks/results/hf_import/<arch>-<dtype>")
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    directory = args.dir or Path("/tmp/lightning_iter_bench") / f"{args.arch}-{args.dtype}"
    file_bytes = write_directory(args.arch, args.dtype, directory)
    rows = []
    for method in METHODS:
        for _ in range(args.repeats):
            result = subprocess.run(
                [sys.executable, __file__, "--child", method, str(directory)],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
            row = json.loads(result.stdout.strip().splitlines()[-1])
            row["growth"] = row["peak_rss"] - row["rss_before"]
            row["growth_touched"] = row["peak_rss_touched"] - row["rss_before"]
            rows.append(row)
    header = (
        "| import | time (s) | peak RSS - before (MiB) | + read every weight: time (s) | peak RSS - before (MiB) "
        "| model (MiB) | peak / model after reading |\n|---|---|---|---|---|---|---|"
    )
    lines = [
        f"| {r['method']} | {r['seconds']:.2f} | {r['growth'] / MIB:.0f} | {r['seconds_touched']:.2f} | "
        f"{r['growth_touched'] / MIB:.0f} | {r['param_bytes'] / MIB:.0f} | "
        f"{r['growth_touched'] / r['param_bytes']:.2f} |"
        for r in rows
    ]
    baseline = rows[0]["rss_before"] / MIB
    table = "\n".join(
        [
            f"{args.arch} ({args.dtype}, file {file_bytes / MIB:.0f} MiB, {directory}); RSS before import "
            f"(python + torch + lightning_iter) {baseline:.0f} MiB",
            "",
            header,
            *lines,
        ]
    )
    print(table)
    args.out = args.out or ROOT / "benchmarks" / "results" / "hf_import" / f"{args.arch}-{args.dtype}"
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {"arch": args.arch, "dtype": args.dtype, "file_bytes": file_bytes, "rows": rows}
    write_json_atomic(args.out / "hf_import.json", payload)
    (args.out / "hf_import.md").write_text(table + "\n")
    print(f"\nresults: {(args.out / 'hf_import.json').resolve()} and hf_import.md")


if __name__ == "__main__":
    main()
