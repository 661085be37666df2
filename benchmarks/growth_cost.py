"""Training cost of depth growth: analytic FLOPs ratio vs seed 004 Table 7, and measured wall-clock on CPU.

    python benchmarks/growth_cost.py [--steps 200] [--out benchmarks/results/growth_cost]

Part 1 (analytic): training FLOPs of the seeds' 360M and 1.7B runs (200k steps; batch 2^20 / 2^21
tokens of 2048; b = 4, PROP-1, horizon 170k), baseline vs grown, next to Table 7.
Part 2 (measured): the quickstart's tiny model trained for the same number of steps and tokens,
grown (LIDAS, as in configs/quickstart.yaml) and baseline, side by side in one process.
Prints a markdown table and writes JSON.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from lightning_iter.atomic import write_json_atomic

ROOT = Path(__file__).resolve().parents[1]
TABLE7 = {  # seed 004 Table 7, PetaFLOPs for 200k iterations
    "smollm-360m": {"standard": 613527.488, "grown": 476147.897},
    "smollm-1.7b": {"standard": 4813222.102, "grown": 3736608.182},
}
BATCH_TOKENS = {"smollm-360m": 2**20, "smollm-1.7b": 2**21}


def analytic(
    name: str, steps: int = 200_000, horizon: int = 170_000, block: int = 4, seq_len: int = 2048
) -> dict[str, Any]:
    """PetaFLOPs of a baseline and a grown run: Σ over steps of tokens × FLOPs/token at that step's depth."""
    from lightning_iter.depth import get_strategy
    from lightning_iter.model import ModelConfig, training_flops_per_token

    config = ModelConfig.from_name(name)
    grow = get_strategy("lidas", block_size=block, horizon=horizon)
    grow.setup(config)
    tokens = BATCH_TOKENS[name]
    per_depth = {
        d: training_flops_per_token(config, d, seq_len) * tokens for d in range(block, config.n_layers + 1, block)
    }
    standard = steps * per_depth[config.n_layers] / 1e15
    boundaries = [0, *grow.growth_steps(), steps]
    grown = (
        sum((end - start) * per_depth[grow.n_unique_at(start)] for start, end in zip(boundaries, boundaries[1:])) / 1e15
    )
    return {
        "model": name,
        "standard_pf": standard,
        "grown_pf": grown,
        "ratio": grown / standard,
        "table7_standard_pf": TABLE7[name]["standard"],
        "table7_grown_pf": TABLE7[name]["grown"],
        "table7_ratio": TABLE7[name]["grown"] / TABLE7[name]["standard"],
    }


def _quickstart() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())


def measure(depth: dict[str, Any], steps: int, seed: int = 0) -> dict[str, Any]:
    """Train the quickstart model for `steps` steps with the given depth strategy; wall-clock of `fit` only."""
    import lightning as L
    import torch

    from lightning_iter.callbacks.depth_schedule import DepthSchedule
    from lightning_iter.data import PrimitivesDataModule
    from lightning_iter.module import LanguageModel

    curve: list[tuple[float, float, float]] = []  # (seconds since start, cumulative FLOPs, train loss)

    class Curve(L.Callback):
        def on_train_start(self, trainer, pl_module):
            self.schedule = next(cb for cb in trainer.callbacks if isinstance(cb, DepthSchedule))

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            curve.append((time.perf_counter() - start, self.schedule.training_flops, float(outputs["loss"])))

    config = _quickstart()
    model_args = config["model"]
    data = PrimitivesDataModule(**config["data"]["init_args"])
    L.seed_everything(seed, verbose=False)
    lm = LanguageModel(
        arch=model_args["arch"],
        arch_overrides=model_args["arch_overrides"],
        vocab_size=data.vocab_size,
        depth=depth,
        optimizer=lambda params: torch.optim.AdamW(params, **model_args["optimizer"]["init_args"]),
        warmup_steps=min(model_args["warmup_steps"], steps // 10),
        decay_fraction=model_args["decay_fraction"],
    )
    with tempfile.TemporaryDirectory() as tmp:
        trainer = L.Trainer(
            accelerator="cpu",
            devices=1,
            max_steps=steps,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            limit_val_batches=0,
            num_sanity_val_steps=0,
            gradient_clip_val=1.0,
            default_root_dir=tmp,
            callbacks=[Curve()],
        )
        start = time.perf_counter()
        trainer.fit(lm, data)
        seconds = time.perf_counter() - start
    schedule = next(cb for cb in trainer.callbacks if isinstance(cb, DepthSchedule))
    return {
        "depth": depth,
        "steps": steps,
        "seconds": seconds,
        "tokens": schedule.tokens,
        "training_flops": schedule.training_flops,
        "final_unique_layers": lm.model.n_unique,
        "final_loss": float(trainer.callback_metrics["train/loss"]),
        "curve": curve,
    }


def plot(grown: dict[str, Any], base: dict[str, Any], path: Path) -> None:
    """Training loss against cumulative FLOPs and against wall-clock, grown vs baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for label, run in (("grown (LIDAS)", grown), ("baseline", base)):
        seconds, flops, loss = zip(*run["curve"])
        axes[0].plot(flops, loss, label=label)
        axes[1].plot(seconds, loss, label=label)
    axes[0].set(xlabel="cumulative training FLOPs", ylabel="train loss", title="loss vs compute")
    axes[1].set(xlabel="wall-clock seconds (CPU)", ylabel="train loss", title="loss vs time")
    for ax in axes:
        ax.legend()
        ax.grid(alpha=0.3)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200, help="training steps of each measured run")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "growth_cost")
    parser.add_argument("--skip_measured", "--skip-measured", action="store_true", help="only the analytic part")
    args = parser.parse_args(argv)

    rows = [analytic(name) for name in ("smollm-360m", "smollm-1.7b")]
    print("## Analytic training FLOPs, 200k steps, b=4, PROP-1, horizon 170k (seed 004 Table 7)\n")
    print(
        "| model | standard PF | grown PF | grown/standard | Table 7 standard PF | Table 7 grown PF | Table 7 ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['model']} | {r['standard_pf']:,.1f} | {r['grown_pf']:,.1f} | {r['ratio']:.4f} | "
            f"{r['table7_standard_pf']:,.1f} | {r['table7_grown_pf']:,.1f} | {r['table7_ratio']:.4f} |"
        )
    result: dict[str, Any] = {"analytic": rows}

    if not args.skip_measured:
        quick = _quickstart()["model"]
        n_layers = quick["arch_overrides"]["n_layers"]
        grown_depth = dict(quick["depth"], horizon=int(args.steps * 0.8))
        grown = measure(grown_depth, args.steps)
        base = measure({"name": "baseline"}, args.steps)
        ratio_time = grown["seconds"] / base["seconds"]
        ratio_flops = grown["training_flops"] / base["training_flops"]
        print(f"\n## Measured: quickstart tiny model ({n_layers} layers), {args.steps} steps each, same tokens, CPU\n")
        print("| run | final unique layers | tokens | training FLOPs | wall-clock s | final train loss |")
        print("|---|---:|---:|---:|---:|---:|")
        for label, r in (("grown (" + grown_depth["name"] + ")", grown), ("baseline", base)):
            print(
                f"| {label} | {r['final_unique_layers']} | {r['tokens']:,} | {r['training_flops']:.3e} | "
                f"{r['seconds']:.1f} | {r['final_loss']:.3f} |"
            )
        print(f"\ngrown/baseline: wall-clock {ratio_time:.3f}, analytic FLOPs {ratio_flops:.3f}")
        result["measured"] = {
            "grown": grown,
            "baseline": base,
            "wall_clock_ratio": ratio_time,
            "flops_ratio": ratio_flops,
        }

    args.out.mkdir(parents=True, exist_ok=True)
    if "measured" in result:
        plot(result["measured"]["grown"], result["measured"]["baseline"], args.out / "growth_cost.png")
        print(f"wrote {args.out / 'growth_cost.png'}")
    path = args.out / "growth_cost.json"
    write_json_atomic(path, result)
    print(f"\nwrote {path}")
    return result


if __name__ == "__main__":
    main()
