"""Run by test_activation_checkpointing.py: `python activation_checkpointing_fsdp_script.py OUT DEVICES AC [BREAK]`.

The looped case of tests/depth/fsdp_growth_script.py (same model, data and snapshots) with
`model.activation_checkpointing` set by AC (0/1): DEVICES=2 trains under FSDP2 (ModelParallelStrategy) on 2 gloo
processes, DEVICES=1 on one process with the same global batch, for the test to compare the two. BREAK swaps in a
wrong checkpointing (`off`: none; `stale-layer`: the recompute runs the layer called last), to see the test fail.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.distributed.tensor import DTensor

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.depth.fsdp_growth_script import CASES, MAX_STEPS, Snapshots  # noqa: E402
from tests.helpers import SMALL, small_data, trainer  # noqa: E402


class LayerCalls(L.Callback):
    """Unique-layer calls (forward pre-hooks, so recomputes count too) of each training step."""

    def __init__(self) -> None:
        self.per_step: list[int] = []

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for layer in pl_module.model.layers:
            layer.register_forward_pre_hook(lambda *_: self.per_step.__setitem__(-1, self.per_step[-1] + 1))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # noqa: ANN001
        self.per_step.append(0)


def break_checkpointing(name: str) -> None:
    from lightning_iter.model import transformer

    if name == "off":
        transformer.checkpointed = transformer._call
    elif name == "stale-layer":
        last: list[Any] = [None]

        def stale(layer: Any, *args: Any, **kwargs: Any) -> Any:
            last[0] = layer
            return torch.utils.checkpoint.checkpoint(lambda *a: last[0](*a, **kwargs), *args, use_reentrant=False)

        transformer.checkpointed = stale
    elif name != "none":
        raise SystemExit(f"unknown BREAK {name!r}")


def run(out: Path, devices: int, checkpointing: bool) -> None:
    """Train the looped model and save its snapshots as `loop-ac{0|1}-{devices}-rank{rank}.pt`."""
    from lightning.pytorch.strategies import ModelParallelStrategy

    from lightning_iter.module import LanguageModel

    L.seed_everything(0)
    depth, n_layers = CASES["loop"]
    lm = LanguageModel(
        arch="tiny",
        arch_overrides={**SMALL, "n_layers": n_layers, "activation_checkpointing": checkpointing},
        depth=depth,
        warmup_steps=2,
        optimizer=partial(torch.optim.AdamW, lr=3e-3, betas=(0.9, 0.95)),
    )
    snaps, calls = Snapshots(), LayerCalls()
    options: dict[str, Any] = {"devices": devices, "max_steps": MAX_STEPS, "callbacks": [snaps, calls]}
    if devices > 1:
        options["strategy"] = ModelParallelStrategy(data_parallel_size=devices, tensor_parallel_size=1)
    t = trainer(**options)
    t.fit(lm, small_data(batch_size=8 // devices))
    result = {
        "snapshots": snaps.snapshots,
        "losses": snaps.losses,
        "plans": snaps.plans,
        "world": t.world_size,
        "checkpointed": lm.model.config.activation_checkpointing,
        "layer_calls": calls.per_step,
        "sharded": any(isinstance(p, DTensor) for p in lm.model.parameters()),
    }
    torch.save(result, out / f"loop-ac{int(checkpointing)}-{devices}-rank{t.global_rank}.pt")


if __name__ == "__main__":
    torch.set_num_threads(1)
    break_checkpointing(sys.argv[4] if len(sys.argv) > 4 else "none")
    run(Path(sys.argv[1]), int(sys.argv[2]), bool(int(sys.argv[3])))
