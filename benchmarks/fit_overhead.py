"""What a Lightning fit step costs over a raw PyTorch loop on the same model, optimizer, schedule and batches.

    python benchmarks/fit_overhead.py [--rounds 10] [--steps 30] [--out benchmarks/results/fit_overhead]

The fit side is our `LanguageModel` (with its `configure_callbacks`: DepthSchedule and whatever else it
installs) under a Trainer set up as `lightning_iter fit` sets it up on CPU (gradient clipping 1.0, fp32,
TensorBoard logger, progress bar, `log_every_n_steps`). The raw side runs `model.loss`, backward, clipping,
the module's own optimizer and LR scheduler (`configure_optimizers`) on the same batches. Both variants are
interleaved in each round, timed in CPU time (`time.process_time`) per step after a warm-up, with one torch
thread; the table reports the median over rounds of each round's mean step time, and the overhead is the
median over rounds of fit/raw - 1 (a shared machine's load shifts whole rounds; the ratio within a round is
steadier). Imports only `lightning_iter.module` and `lightning_iter.atomic`, so the same script measures any
checkout (run it with that checkout's Python).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from lightning_iter.atomic import write_json_atomic

ROOT = Path(__file__).resolve().parents[1]


def make_batches(args: argparse.Namespace) -> Any:
    """A fixed token tensor: the same batches, in the same order, for both variants."""
    import torch

    generator = torch.Generator().manual_seed(0)
    n = args.batch * (args.warmup + args.steps)
    tokens = torch.randint(0, 259, (n, args.seq_len + 1), generator=generator)
    return torch.utils.data.TensorDataset(tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous())


def make_module(args: argparse.Namespace) -> Any:
    import torch

    from lightning_iter.module import LanguageModel

    torch.manual_seed(0)
    depth = {"name": args.depth, **({"initial_depth": 2, "target_depth": 4} if args.depth != "baseline" else {})}
    return LanguageModel(
        arch="tiny",
        arch_overrides={"n_layers": args.n_layers, "kernels": "torch"} if args.depth == "baseline" else None,
        vocab_size=259,
        depth=depth,
        warmup_steps=min(5, (args.warmup + args.steps) // 2),
        total_steps=args.warmup + args.steps,
    )


def loader(dataset: Any, batch: int) -> Any:
    import torch

    return torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=False)


def fit_round(args: argparse.Namespace, dataset: Any, log_dir: str) -> float:
    """Mean CPU seconds per step of `Trainer.fit`, between consecutive `on_train_batch_end` calls after warm-up."""
    import lightning as L
    from lightning.pytorch.loggers import TensorBoardLogger

    stamps: list[float] = []

    class Stamp(L.Callback):
        def on_train_batch_end(self, *_: Any) -> None:
            stamps.append(time.process_time())

    module = make_module(args)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=args.warmup + args.steps,
        precision="32-true",
        gradient_clip_val=1.0,
        log_every_n_steps=args.log_every_n_steps,
        logger=TensorBoardLogger(log_dir, name="fit_overhead"),
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=not args.no_progress_bar,
        num_sanity_val_steps=0,
        callbacks=[Stamp()],
    )
    with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
        trainer.fit(module, train_dataloaders=loader(dataset, args.batch))
    timed = stamps[args.warmup - 1 :]  # the gaps after the warm-up steps
    return (timed[-1] - timed[0]) / (len(timed) - 1)


def raw_round(args: argparse.Namespace, dataset: Any) -> float:
    """Mean CPU seconds per step of a plain loop: loss, backward, clip, optimizer and scheduler step."""
    import torch

    module = make_module(args)
    configured = module.configure_optimizers()
    optimizer, scheduler = configured["optimizer"], configured["lr_scheduler"]["scheduler"]
    model = module.model.train()
    stamps: list[float] = []
    for inputs, targets in loader(dataset, args.batch):
        optimizer.zero_grad(set_to_none=True)
        loss = model.loss(inputs, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        stamps.append(time.process_time())
    timed = stamps[args.warmup - 1 :]
    return (timed[-1] - timed[0]) / (len(timed) - 1)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds (fit, raw) per variant")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps at the start of each round")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq_len", type=int, default=32)
    parser.add_argument("--n_layers", type=int, default=8, help="unique layers of the tiny model (baseline)")
    parser.add_argument("--depth", default="baseline", help="depth strategy (growing ones go 2 -> 4 layers)")
    parser.add_argument("--log_every_n_steps", type=int, default=10, help="as in configs/*.yaml")
    parser.add_argument("--no_progress_bar", action="store_true", help="fit without the progress bar")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "fit_overhead")
    args = parser.parse_args(argv)
    if args.warmup < 1 or args.steps < 2:
        parser.error("--warmup must be >= 1 and --steps >= 2")

    import torch
    from lightning.pytorch.utilities.warnings import PossibleUserWarning

    torch.set_num_threads(args.threads)
    dataset = make_batches(args)
    fit_s: list[float] = []
    raw_s: list[float] = []
    lightning_log = logging.getLogger("lightning.pytorch")
    level = lightning_log.level
    with tempfile.TemporaryDirectory(prefix="fit_overhead_") as log_dir, warnings.catch_warnings():
        warnings.simplefilter("ignore", PossibleUserWarning)  # e.g. "the dataloader has few workers"
        lightning_log.setLevel(logging.ERROR)  # the Trainer's start-up lines, once per round
        try:
            for i in range(args.rounds):
                fit_s.append(fit_round(args, dataset, log_dir))
                raw_s.append(raw_round(args, dataset))
                print(
                    f"round {i + 1}/{args.rounds}: fit {fit_s[-1] * 1e3:.2f} ms, raw {raw_s[-1] * 1e3:.2f} ms",
                    file=sys.stderr,
                )
        finally:
            lightning_log.setLevel(level)
    fit_ms, raw_ms = statistics.median(fit_s) * 1e3, statistics.median(raw_s) * 1e3
    ratios = [f / r for f, r in zip(fit_s, raw_s)]
    optimizer = make_module(args).configure_optimizers()["optimizer"]
    fused = bool(optimizer.defaults.get("fused"))
    import lightning_iter

    row = {
        "fit_ms_per_step": fit_ms,
        "raw_ms_per_step": raw_ms,
        "overhead": statistics.median(ratios) - 1.0,  # per-round ratios: both variants saw that round's load
        "overhead_per_round": [r - 1.0 for r in ratios],
        "fused_adamw": fused,
        "lightning_iter": str(Path(lightning_iter.__file__).resolve().parent),
    }
    print(
        f"\n## Fit step vs raw PyTorch loop: tiny ({args.depth}), batch {args.batch} x {args.seq_len}, "
        f"{args.threads} thread(s), {args.rounds} rounds x {args.steps} steps, CPU time\n"
    )
    print(f"checkout: {row['lightning_iter']}; AdamW fused={fused}; log_every_n_steps={args.log_every_n_steps}\n")
    print("| variant | ms/step (median of rounds) | vs raw |")
    print("|---|---:|---:|")
    print(f"| raw PyTorch loop | {raw_ms:.2f} | 1.000 |")
    print(f"| Lightning fit (LanguageModel + callbacks) | {fit_ms:.2f} | {fit_ms / raw_ms:.3f} |")
    per_round = ", ".join(f"{r * 100:+.1f}" for r in row["overhead_per_round"])
    print(f"\noverhead: {row['overhead'] * 100:+.1f} % (median of rounds; per round: {per_round})")
    result = {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}, "row": row}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "fit_overhead.json"
    write_json_atomic(path, result)
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
