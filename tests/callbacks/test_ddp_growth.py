"""Growth under Lightning's DDP strategy: 2 CPU processes on gloo grow at the same step and stay identical."""

from pathlib import Path

import torch

from tests.helpers import assert_ranks_grew_identically, run_ddp_script

SCRIPT = Path(__file__).with_name("ddp_growth_script.py")


def test_ddp_growth_keeps_ranks_identical(tmp_path):
    result = run_ddp_script([str(SCRIPT), str(tmp_path)])
    assert result.returncode == 0, result.stderr[-4000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    assert_ranks_grew_identically(ranks)  # same steps, different data, identical weights and moments
