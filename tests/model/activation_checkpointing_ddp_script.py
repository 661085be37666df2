"""Run by test_activation_checkpointing.py as `python activation_checkpointing_ddp_script.py OUT_DIR [reentrant]`.

Lightning's DDP launcher starts rank 1; both ranks then fit the same looped model twice, without and with
activation checkpointing (the second fit reuses the process group), and save parameters and losses per fit.
`reentrant` swaps in reentrant checkpointing (the test shows that it breaks DDP on the looped layer).
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.helpers import SMALL, Recorder, small_data, trainer  # noqa: E402

LOOP = {"name": "loop", "layers": 2, "repeats": 2, "encode": 1}  # plan 0 1 2 1 2: layers 1 and 2 run twice


def fit(out: Path, checkpointing: bool) -> None:
    from lightning_iter.module import LanguageModel

    L.seed_everything(0)
    lm = LanguageModel(
        arch="tiny",
        arch_overrides={**SMALL, "n_layers": 3, "activation_checkpointing": checkpointing},
        depth=LOOP,
        warmup_steps=2,
        optimizer=partial(torch.optim.AdamW, lr=3e-3, betas=(0.9, 0.95)),
    )
    recorder = Recorder()
    t = trainer(devices=2, strategy="ddp", max_steps=4, callbacks=[recorder])
    t.fit(lm, small_data())
    torch.save(
        {
            "params": {k: v.detach().clone() for k, v in lm.model.state_dict().items()},
            "losses": [row[2] for row in recorder.rows],
            "world": t.world_size,
            "checkpointed": lm.model.config.activation_checkpointing,
        },
        out / f"ac{int(checkpointing)}_rank{t.global_rank}.pt",
    )


def main(out: Path, reentrant: bool = False) -> None:
    torch.set_num_threads(1)
    if reentrant:
        from lightning_iter.model import transformer

        transformer.checkpointed = lambda layer, *args, **kwargs: torch.utils.checkpoint.checkpoint(
            partial(layer, **kwargs), *args, use_reentrant=True
        )
    fit(out, checkpointing=False)
    fit(out, checkpointing=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:3] == ["reentrant"])
