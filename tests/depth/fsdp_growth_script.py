"""Run by test_fsdp_growth.py as `python fsdp_growth_script.py OUT_DIR CASE DEVICES [BREAK]`.

DEVICES=2: Lightning's ModelParallelStrategy (FSDP2, data_parallel_size=2) on 2 gloo CPU processes, each with a
batch of 4; DEVICES=1: one process with the same global batch of 8 (ranks take interleaved global samples, so the
global batch is the same 8 sequences). Every time the model has grown, and at the end, the full (gathered)
parameters and AdamW moments are saved, for the test to compare the two runs. BREAK removes one mechanism of the
sharded growth (`test_fsdp_growth.py` checks that the comparison then fails).
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
from tests.helpers import small_data, small_lm, trainer  # noqa: E402

# tiny runs: growth at 2 boundaries (steps 1 and 3), a loop, and growth followed by a retrofitted loop (step 6)
CASES: dict[str, tuple[dict[str, Any], int]] = {
    "grow": ({"name": "lidas", "block_size": 1, "initial_depth": 1, "horizon": 6}, 3),
    "loop": ({"name": "loop", "layers": 2, "repeats": 2, "encode": 1}, 3),
    "retrofit": (
        {
            "name": "midas",
            "block_size": 1,
            "initial_depth": 1,
            "horizon": 6,
            "retrofit": {"start_step": 6, "block": [1, 3], "extra": 1},
        },
        3,
    ),
}
MAX_STEPS = 8
GROWTH_COLLECTIVES: list[int] = []  # per growth transaction (main() counts them)


def full(tensor: torch.Tensor) -> torch.Tensor:
    """The whole tensor on every rank (an all-gather for a DTensor shard)."""
    return (tensor.full_tensor() if isinstance(tensor, DTensor) else tensor).detach().clone()


class Snapshots(L.Callback):
    """Full parameters and AdamW moments after each growth (before that step's update) and at the end."""

    def __init__(self) -> None:
        self.snapshots: list[dict[str, Any]] = []
        self.losses: list[float] = []
        self.plans: list[tuple[int, ...]] = []
        self.in_root: list[bool] | None = None
        self.val_losses: list[float] = []  # over the whole validation set (8 sequences), every 4 steps
        self._seen = -1

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Any) -> None:
        self.plans.append(tuple(pl_module.model.plan))
        if pl_module.model.n_unique != self._seen:
            self._seen = pl_module.model.n_unique
            self.snapshots.append(snapshot(trainer, pl_module, optimizer))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        self.losses.append(float(outputs["loss"]))

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.val_losses.append(float(trainer.callback_metrics["val/loss"]))

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.snapshots.append(snapshot(trainer, pl_module, trainer.optimizers[0]))
        self.in_root = layers_in_root(pl_module.model)


def layers_in_root(model: torch.nn.Module) -> list[bool] | None:
    """Per unique layer: its FSDP state is one of the root state's (not a root of its own); None if not sharded."""
    from torch.distributed.fsdp import FSDPModule

    if not isinstance(model, FSDPModule):
        return None
    states = model._get_fsdp_state()._state_ctx.all_states
    return [layer._get_fsdp_state() in states and layer._get_fsdp_state()._is_root is False for layer in model.layers]


def snapshot(trainer: L.Trainer, lm: L.LightningModule, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    names = {id(p): name for name, p in lm.model.named_parameters()}
    params = {name: full(p) for name, p in lm.model.named_parameters()}
    moments = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            moments[names[id(p)]] = {k: full(v) for k, v in state.items() if isinstance(v, torch.Tensor)}
    order = [names[id(p)] for group in optimizer.param_groups for p in group["params"]]
    return {
        "step": trainer.global_step,
        "n_unique": lm.model.n_unique,
        "params": params,
        "moments": moments,
        "order": order,
    }


def break_mechanism(name: str) -> None:
    """Remove one mechanism of the sharded growth (for the test that the comparison can fail)."""
    from lightning_iter.depth import sharded, transaction

    if name == "no-state-copy":  # copied parameters start with fresh AdamW moments
        transaction.copy_state = lambda state: {}
    elif name == "no-shard-copy":  # the new layers keep their (uninitialised) values
        sharded.copy_local_shards = lambda source, target: None
    elif name == "no-refresh":  # the root FSDP state does not take the new layers in
        transaction.refresh_root = lambda model: None
    elif name == "gather-copy":  # the copy gathers each full source parameter first
        copy_shards = sharded.copy_local_shards

        def gathering(source: torch.nn.Module, target: torch.nn.Module) -> None:
            for value in source.parameters():
                full(value)
            copy_shards(source, target)

        sharded.copy_local_shards = gathering
    elif name == "one-pass-grad":  # a looped layer's gradient is reduced for one pass only (its other passes dropped)
        _reduce_one_pass_only()
    elif name != "none":
        raise SystemExit(f"unknown BREAK {name!r}")


def _reduce_one_pass_only() -> None:
    """Make FSDP2 drop the gradient of every pass of a layer after its first post-backward of a step."""
    from torch.distributed.fsdp._fully_shard._fsdp_param_group import FSDPParamGroup
    from torch.distributed.fsdp._fully_shard._fsdp_state import FSDPState

    seen: set[int] = set()
    post_backward, final = FSDPParamGroup.post_backward, FSDPState._root_post_backward_final_callback

    def once(self: FSDPParamGroup, *args: Any) -> None:
        if id(self) in seen:
            for param in self.fsdp_params:
                if hasattr(param, "_unsharded_param"):
                    param.unsharded_param.grad = None
        seen.add(id(self))
        post_backward(self, *args)

    def final_callback(self: FSDPState) -> None:
        final(self)
        seen.clear()

    FSDPParamGroup.post_backward = once
    FSDPState._root_post_backward_final_callback = final_callback


def count_growth_collectives() -> list[int]:
    """Count the collectives (c10d and DTensor's functional ones) each growth transaction issues."""
    from torch.distributed.tensor.debug import CommDebugMode

    from lightning_iter.depth import base

    counts: list[int] = []
    grow = base.grow_layers

    def counted(*args: Any, **kwargs: Any) -> Any:
        with CommDebugMode() as comm:
            result = grow(*args, **kwargs)
        counts.append(comm.get_total_counts())
        return result

    base.grow_layers = counted
    return counts


def run(out: Path, case: str, devices: int) -> None:
    """Train one case and save its snapshots as `{case}-{devices}-rank{rank}.pt`."""
    from lightning.pytorch.strategies import ModelParallelStrategy

    L.seed_everything(0)
    depth, n_layers = CASES[case]
    lm = small_lm(depth, n_layers=n_layers, optimizer=partial(torch.optim.AdamW, lr=3e-3, betas=(0.9, 0.95)))
    snaps = Snapshots()
    options: dict[str, Any] = {"devices": devices, "max_steps": MAX_STEPS, "callbacks": [snaps]}
    options.update(limit_val_batches=1.0, val_check_interval=4)
    if devices > 1:
        options["strategy"] = ModelParallelStrategy(data_parallel_size=devices, tensor_parallel_size=1)
    t = trainer(**options)
    first = len(GROWTH_COLLECTIVES)
    t.fit(lm, small_data(batch_size=8 // devices, val_size=8))
    result = {
        "snapshots": snaps.snapshots,
        "losses": snaps.losses,
        "val_losses": snaps.val_losses,
        "plans": snaps.plans,
        "world": t.world_size,
        "in_root": snaps.in_root,
        "growth_collectives": GROWTH_COLLECTIVES[first:],
        "sharded": any(isinstance(p, DTensor) for p in lm.model.parameters()),
    }
    torch.save(result, out / f"{case}-{devices}-rank{t.global_rank}.pt")


def main(out: Path, cases: str, devices: int, broken: str = "none") -> None:
    """Run the comma-separated `cases` one after the other (one process group for all)."""
    break_mechanism(broken)
    torch.set_num_threads(1)
    global GROWTH_COLLECTIVES
    GROWTH_COLLECTIVES = count_growth_collectives()
    for case in cases.split(","):
        run(out, case, devices)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), *sys.argv[4:5])
