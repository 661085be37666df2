"""Data loader throughput vs what a training step consumes: is the loader ever the bottleneck?

    python benchmarks/data_throughput.py [--seq_len 256] [--batch_size 16] [--out benchmarks/results/data_throughput]

Builds a local corpus (reasoning-primitive documents), trains a byte-level BPE tokenizer on it and
prepares it with `prepare_dataset`, all in a temporary directory. Then measures tokens/s of the
`StreamingDataModule` train loader (a 90/10 mixture of two sources, 0/1/2 workers) and tokens/s of a
training step (forward, backward, AdamW) of the tiny model and of smollm-360m at the same batch shape
(360M: `--big_batch` sequences, a few steps; on a CPU it is slow). Prints a markdown table; writes JSON.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from lightning_iter.atomic import write_json_atomic

ROOT = Path(__file__).resolve().parents[1]


def build_corpus(root: Path, documents: int, seq_len: int, vocab_size: int) -> dict[str, str]:
    """Two prepared sources (primitives, arithmetic) under `root`; returns name -> prepared dir."""
    from lightning_iter.data.bpe import train_bpe
    from lightning_iter.data.prepare import prepare_dataset
    from lightning_iter.data.primitives import training_document

    rng = random.Random(0)
    primitives, arithmetic = root / "primitives.jsonl", root / "arithmetic.jsonl"
    with primitives.open("w") as handle:
        for _ in range(documents):
            handle.write(json.dumps({"text": training_document(rng)}) + "\n")
    with arithmetic.open("w") as handle:
        for _ in range(documents):
            a, b = rng.randint(0, 999), rng.randint(0, 999)
            handle.write(json.dumps({"text": f"{a} + {b} = {a + b}. {a} * {b} = {a * b}."}) + "\n")
    tokenizer = train_bpe([primitives, arithmetic], vocab_size, show_progress=False)
    out = {}
    for name, path in (("primitives", primitives), ("arithmetic", arithmetic)):
        out[name] = prepare_dataset(
            [path], tokenizer, str(root / "prepared" / name), seq_len=seq_len, num_workers=2, verbose=False
        ).out
    return out


def loader_tokens_per_s(sources: dict[str, str], seq_len: int, batch_size: int, workers: int, batches: int) -> float:
    """Tokens/s of the train DataLoader (inputs + the shifted target token), after its first batch."""
    from lightning_iter.data import StreamingDataModule

    dm = StreamingDataModule(
        sources,
        weights={"primitives": 0.9, "arithmetic": 0.1},
        seq_len=seq_len,
        batch_size=batch_size,
        val_size=4,
        num_workers=workers,
    )
    iterator = iter(dm.train_dataloader())
    next(iterator)
    start = time.perf_counter()
    for _ in itertools.islice(iterator, batches):
        pass
    return batches * batch_size * (seq_len + 1) / (time.perf_counter() - start)


def train_tokens_per_s(arch: str, vocab_size: int, seq_len: int, batch_size: int, steps: int) -> float:
    """Tokens/s one training step (forward + backward + AdamW) of `arch` consumes, after one warm-up step."""
    import torch

    from lightning_iter.model import ModelConfig, Transformer

    torch.manual_seed(0)
    model = Transformer(ModelConfig.from_name(arch, vocab_size=vocab_size, max_seq_len=max(seq_len, 256)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    tokens = torch.randint(0, vocab_size, (batch_size, seq_len + 1))

    def step() -> None:
        loss = model.loss(tokens[:, :-1], tokens[:, 1:])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch_size * (seq_len + 1) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seq_len", type=int, default=256)
    parser.add_argument("--batch_size", type=int, default=16, help="sequences per batch (loader and tiny model)")
    parser.add_argument("--big_batch", type=int, default=1, help="sequences per step for smollm-360m")
    parser.add_argument("--batches", type=int, default=200, help="loader batches timed per setting")
    parser.add_argument("--steps", type=int, default=5, help="tiny-model training steps timed")
    parser.add_argument("--big_steps", type=int, default=2, help="smollm-360m training steps timed")
    parser.add_argument("--documents", type=int, default=6000, help="documents per corpus source")
    parser.add_argument("--vocab_size", type=int, default=1024)
    parser.add_argument(
        "--archs", default="tiny,smollm-360m", help="comma-separated model presets to time (tiny first)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "data_throughput")
    args = parser.parse_args(argv)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lightning_iter_data_bench_") as tmp:
        start = time.perf_counter()
        sources = build_corpus(Path(tmp), args.documents, args.seq_len, args.vocab_size)
        print(f"corpus built and prepared in {time.perf_counter() - start:.1f} s")
        for workers in (0, 1, 2):
            rate = loader_tokens_per_s(sources, args.seq_len, args.batch_size, workers, args.batches)
            rows.append({"what": f"loader, {workers} workers", "batch": args.batch_size, "tokens_per_s": rate})
    for arch in args.archs.split(","):
        batch, steps = (args.batch_size, args.steps) if arch == "tiny" else (args.big_batch, args.big_steps)
        rate = train_tokens_per_s(arch, args.vocab_size, args.seq_len, batch, steps)
        rows.append({"what": f"training step, {arch}", "batch": batch, "tokens_per_s": rate})
    slowest_loader = min(r["tokens_per_s"] for r in rows if r["what"].startswith("loader"))
    tiny = next(r["tokens_per_s"] for r in rows if r["what"].endswith("tiny"))
    result = {
        "seq_len": args.seq_len,
        "vocab_size": args.vocab_size,
        "rows": rows,
        "loader_over_tiny_training": slowest_loader / tiny,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch_threads": _threads()},
    }
    lines = [f"| what (seq_len {args.seq_len}) | batch | tokens/s | x tiny step |", "|---|---:|---:|---:|"]
    lines += [
        f"| {r['what']} | {r['batch']} | {r['tokens_per_s']:,.0f} | {r['tokens_per_s'] / tiny:.1f} |" for r in rows
    ]
    table = "\n".join(lines)
    print(table)
    print(
        f"slowest loader / tiny training step: {slowest_loader / tiny:.1f}x "
        f"({'the loader is not the bottleneck' if slowest_loader > tiny else 'THE LOADER IS THE BOTTLENECK'})"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "data_throughput.json"
    write_json_atomic(path, result)
    (args.out / "data_throughput.md").write_text(table + "\n")
    print(f"results: {path.resolve()} and {(args.out / 'data_throughput.md').resolve()}")
    return result


def _threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    main()
