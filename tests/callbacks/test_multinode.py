"""Multi-node DDP growth: `num_nodes=2, devices=1` as two processes on this machine, launched as a cluster would
launch them (SLURM's variables, or torchrun per node); they grow at the same steps and stay identical."""

import sys
from pathlib import Path

import pytest
import torch

from tests.helpers import assert_ranks_grew_identically, run_node_processes

SCRIPT = Path(__file__).with_name("multinode_script.py")


def slurm(out: Path):
    """What `srun` sets for task `node` of `sbatch --nodes=2 --ntasks-per-node=1` (the address from the node list)."""

    def launch(node: int, port: int) -> tuple[list[str], dict[str, str]]:
        variables = {
            "SLURM_JOB_ID": "4242",
            "SLURM_JOB_NAME": "lightning_iter",
            "SLURM_NNODES": "2",
            "SLURM_NTASKS": "2",
            "SLURM_NTASKS_PER_NODE": "1",
            "SLURM_NODELIST": "127.0.0.1",
            "SLURM_NODEID": str(node),
            "SLURM_PROCID": str(node),
            "SLURM_LOCALID": "0",
            "MASTER_PORT": str(port),
        }
        return [sys.executable, str(SCRIPT), str(out)], variables

    return launch


def torchrun(out: Path):
    """`torchrun --nnodes 2 --node_rank NODE --nproc_per_node 1 --master_addr ... --master_port ...` on each node."""

    def launch(node: int, port: int) -> tuple[list[str], dict[str, str]]:
        rendezvous = ["--master_addr", "127.0.0.1", "--master_port", str(port)]
        per_node = ["--nnodes", "2", "--node_rank", str(node), "--nproc_per_node", "1"]
        return [sys.executable, "-m", "torch.distributed.run", *per_node, *rendezvous, str(SCRIPT), str(out)], {}

    return launch


@pytest.mark.slow  # two processes train 6 steps on gloo (~50 s wall per launcher on 2 shared cores)
@pytest.mark.parametrize(
    ("launcher", "environment"), [(slurm, "SLURMEnvironment"), (torchrun, "TorchElasticEnvironment")]
)
def test_two_nodes_grow_at_the_same_steps_and_stay_identical(tmp_path, launcher, environment):
    results = run_node_processes(launcher(tmp_path))
    for result in results:
        assert result.returncode == 0, result.stderr[-4000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    assert [(r["node_rank"], r["local_rank"]) for r in ranks] == [(0, 0), (1, 0)]  # one process on each node
    assert {r["environment"] for r in ranks} == {environment}
    assert_ranks_grew_identically(ranks)  # same steps, different data, identical weights and moments
