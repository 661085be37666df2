"""Run by test_multinode.py once per "node": `python multinode_script.py OUT_DIR [no-rewrap]`, in a cluster's env.

Each process is one node of `num_nodes=2, devices=1` (Lightning reads its ranks from SLURM's or torchrun's
variables, as on a cluster); both train the small LIDAS model of ddp_growth_script.py past two growth steps on
their own shard of the data and save what test_ddp_growth.py compares across ranks. `no-rewrap` skips DDP's
re-wrap after growth (the grown layers' gradients are then not all-reduced), to see the test fail.
"""

import sys
from pathlib import Path

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.helpers import Recorder, small_data, small_lm, trainer  # noqa: E402


def main(out: Path, broken: bool = False) -> None:
    torch.set_num_threads(1)
    if broken:
        from lightning_iter.callbacks.depth_schedule import DepthSchedule

        DepthSchedule._after_growth = staticmethod(lambda trainer, pl_module: None)
    L.seed_everything(0)
    recorder = Recorder()
    lm = small_lm({"name": "lidas", "block_size": 1, "initial_depth": 1, "horizon": 6}, n_layers=3)
    t = trainer(num_nodes=2, devices=1, strategy="ddp", max_steps=6, callbacks=[recorder])
    t.fit(lm, small_data())
    torch.save(
        {
            "params": {k: v.detach().clone() for k, v in lm.model.state_dict().items()},
            "optimizer": t.optimizers[0].state_dict(),
            "rows": recorder.rows,
            "world": t.world_size,
            "node_rank": t.node_rank,
            "local_rank": t.local_rank,
            "environment": type(t.strategy.cluster_environment).__name__,
        },
        out / f"rank{t.global_rank}.pt",
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:3] == ["no-rewrap"])
