"""Growth under Lightning's DDP strategy: 2 CPU processes on gloo grow at the same step and stay identical."""

from pathlib import Path

import torch

from tests.helpers import run_ddp_script

SCRIPT = Path(__file__).with_name("ddp_growth_script.py")


def test_ddp_growth_keeps_ranks_identical(tmp_path):
    result = run_ddp_script([str(SCRIPT), str(tmp_path)])
    assert result.returncode == 0, result.stderr[-4000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    # both ranks grew at the same steps
    assert [row[:2] for row in ranks[0]["rows"]] == [row[:2] for row in ranks[1]["rows"]]
    assert [row[1] for row in ranks[0]["rows"]] == [1, 2, 2, 3, 3, 3]
    # ranks trained on different data: their losses differ ...
    assert [row[2] for row in ranks[0]["rows"]] != [row[2] for row in ranks[1]["rows"]]
    # ... yet every parameter, including the grown layers', is identical: gradients of new layers were all-reduced
    p0, p1 = ranks[0]["params"], ranks[1]["params"]
    assert set(p0) == set(p1) and any(k.startswith("layers.2.") for k in p0)
    for key in p0:
        torch.testing.assert_close(p0[key], p1[key], rtol=0, atol=0, msg=key)
    s0, s1 = ranks[0]["optimizer"]["state"], ranks[1]["optimizer"]["state"]
    assert set(s0) == set(s1) and len(s0) == len(p0)  # one optimizer state per parameter, grown ones included
    for index in s0:
        for key in ("exp_avg", "exp_avg_sq", "step"):
            torch.testing.assert_close(s0[index][key], s1[index][key], rtol=0, atol=0)
