"""Growth, loops and retrofit under FSDP2 (Lightning's ModelParallelStrategy) on 2 gloo CPU processes.

After every growth and at the end, the full (gathered) parameters and AdamW moments equal those of one process
training on the same global batch (fsdp_growth_script.py), within fp32 tolerance.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.strategies import ModelParallelStrategy

from lightning_iter.depth.sharded import check_shardable
from lightning_iter.errors import ConfigError
from tests.depth.fsdp_growth_script import MAX_STEPS, run
from tests.helpers import run_ddp_script, small_lm

SCRIPT = Path(__file__).with_name("fsdp_growth_script.py")
# the plan each case trains its last step with, and the steps at which snapshots are taken (growth steps, end)
EXPECTED = {
    "grow": ((0, 1, 2), [0, 1, 3, MAX_STEPS]),
    "loop": ((0, 1, 2, 1, 2), [0, MAX_STEPS]),
    "retrofit": ((0, 1, 2, 1, 2), [0, 1, 3, MAX_STEPS]),
}


def assert_same_state(reference: dict, sharded: dict, where: str) -> None:
    """Parameters, AdamW moments and their optimizer order equal within fp32 tolerance (summation order differs)."""
    assert sharded["n_unique"] == reference["n_unique"], where
    assert sharded["order"] == reference["order"], where
    assert set(sharded["params"]) == set(reference["params"]), where
    for name, value in reference["params"].items():
        torch.testing.assert_close(sharded["params"][name], value, rtol=1e-5, atol=1e-6, msg=f"{where} {name}")
    assert set(sharded["moments"]) == set(reference["moments"]), where
    for name, state in reference["moments"].items():
        assert set(sharded["moments"][name]) == set(state), f"{where} {name}"
        for key, value in state.items():
            scale = float(value.abs().max()) if value.numel() else 0.0
            torch.testing.assert_close(
                sharded["moments"][name][key], value, rtol=1e-3, atol=1e-4 * scale, msg=f"{where} {name} {key}"
            )


def check_case(out: Path, case: str) -> None:
    """Compare the 2-process FSDP2 run of `case` in `out` with a 1-process run on the same global batches."""
    last_plan, steps = EXPECTED[case]
    run(out, case, 1)
    reference = torch.load(out / f"{case}-1-rank0.pt", weights_only=False)
    ranks = [torch.load(out / f"{case}-2-rank{r}.pt", weights_only=False) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2] and all(r["sharded"] for r in ranks), case
    assert not reference["sharded"]
    for sharded in ranks:
        assert sharded["plans"] == reference["plans"] and sharded["plans"][-1] == last_plan, case
        # every unique layer, the grown ones too, is a child of the root FSDP state (not a root of its own)
        assert sharded["in_root"] == [True] * len(set(last_plan)), case
        assert [s["step"] for s in sharded["snapshots"]] == steps, case
        # the growth transaction copies local shards: no collective (no gather of the model)
        assert sharded["growth_collectives"] == [0] * (len(steps) - 2), case
        for ref, got in zip(reference["snapshots"], sharded["snapshots"]):
            assert_same_state(ref, got, f"{case} step {ref['step']}")
    # each rank's loss is over its half of the global batch: their mean is the one-process loss
    mean = [(a + b) / 2 for a, b in zip(ranks[0]["losses"], ranks[1]["losses"])]
    torch.testing.assert_close(torch.tensor(mean), torch.tensor(reference["losses"]), rtol=1e-5, atol=1e-6)
    # validation runs through the sharded root too; val/loss is over the whole validation set on both
    assert len(reference["val_losses"]) == 2, case
    for sharded in ranks:
        torch.testing.assert_close(
            torch.tensor(sharded["val_losses"]), torch.tensor(reference["val_losses"]), rtol=1e-5, atol=1e-6
        )


@pytest.mark.slow  # two gloo processes train three tiny runs (~10 s CPU, longer on a loaded machine)
def test_fsdp2_growth_loop_and_retrofit_match_one_process(tmp_path):
    result = run_ddp_script([str(SCRIPT), str(tmp_path), ",".join(EXPECTED), "2"])
    assert result.returncode == 0, result.stderr[-4000:]
    for case in EXPECTED:
        check_case(tmp_path, case)


def test_tensor_parallel_and_compile_are_rejected_at_start_up():
    with pytest.raises(ConfigError, match=r"trainer.strategy.tensor_parallel_size=2 is not supported"):
        check_shardable(2, False)
    with pytest.raises(ConfigError, match=r"model.compile=True is not supported with ModelParallelStrategy"):
        check_shardable(1, True)
    check_shardable(1, False)


def test_configure_model_checks_the_mesh_before_sharding():
    """`configure_model` under ModelParallelStrategy reads the mesh's tensor-parallel size first (one error)."""
    lm = small_lm({"name": "baseline"}, n_layers=2)
    lm._trainer = SimpleNamespace(strategy=ModelParallelStrategy(data_parallel_size=1, tensor_parallel_size=2))
    lm._device_mesh = {"tensor_parallel": SimpleNamespace(size=lambda: 2), "data_parallel": None}
    with pytest.raises(ConfigError, match="tensor_parallel_size=2"):
        lm.configure_model()
    assert not any(hasattr(p, "placements") for p in lm.model.parameters())  # nothing was sharded


def test_shard_copy_refuses_layers_of_another_shape():
    """The shard-by-shard copy checks names (and, for DTensors, placements and local shapes) before copying."""
    from torch import nn

    from lightning_iter.depth.sharded import copy_local_shards

    with pytest.raises(ConfigError, match="parameter names differ"):
        copy_local_shards(nn.Linear(2, 2), nn.Linear(2, 2, bias=False))
    source, target = nn.Linear(2, 3), nn.Linear(2, 3)
    copy_local_shards(source, target)
    assert all(torch.equal(a, b) for a, b in zip(source.parameters(), target.parameters()))
