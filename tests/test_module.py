"""LanguageModel's validation loss: a token-weighted mean over the whole validation set, on one process or many."""

from pathlib import Path

import pytest
import torch

from lightning_iter.model.loss import IGNORE_INDEX
from tests.ddp_val_loss_script import main
from tests.helpers import run_ddp_script, small_lm

SCRIPT = Path(__file__).with_name("ddp_val_loss_script.py")


def test_val_loss_weights_each_batch_by_its_counted_targets():
    torch.manual_seed(0)
    lm = small_lm({"name": "baseline"}, n_layers=2).eval()
    batches = []
    for ignored in (0, 12):
        inputs = torch.randint(0, 200, (2, 8))
        targets = torch.randint(0, 200, (2, 8))
        targets.view(-1)[:ignored] = IGNORE_INDEX
        batches.append((inputs, targets))
    with torch.no_grad():
        for i, batch in enumerate(batches):
            lm.validation_step(batch, i)
        got = lm.val_loss.compute()
        sums = [lm.model.loss(x, y) * (y != IGNORE_INDEX).sum() for x, y in batches]
    expected = sum(sums) / sum((y != IGNORE_INDEX).sum() for _, y in batches)
    torch.testing.assert_close(got, expected)


@pytest.mark.slow
def test_val_loss_under_ddp_is_the_loss_over_the_whole_validation_set(tmp_path):
    result = run_ddp_script([str(SCRIPT), str(tmp_path), "2"])
    assert result.returncode == 0, result.stderr[-4000:]
    ranks = [torch.load(tmp_path / f"devices2_rank{r}.pt") for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    main(tmp_path, 1)  # the same model and set on one process, here
    single = torch.load(tmp_path / "devices1_rank0.pt")["loss"]
    # each rank saw half of the set, yet both log the loss over all of it: the single-process value
    for rank in ranks:
        assert rank["loss"] == pytest.approx(single, rel=1e-6, abs=0)
