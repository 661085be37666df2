"""Inference-scaling sweep: r = 0..R extra passes of a block, on fixed data; JSON + PNG; plan restored."""

import json

import pytest
import torch

from lightning_iter.cli import main as cli_main
from lightning_iter.errors import PlanError
from lightning_iter.eval.nll import heldout_nll
from lightning_iter.eval.repeat_sweep import nll_measure, primitives_measure, repeat_sweep, write_sweep
from lightning_iter.loading import load_model
from lightning_iter.model import repeat_block
from tests.generation.checkpoint_factory import write_checkpoint


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return write_checkpoint(tmp_path_factory.mktemp("sweep") / "base.ckpt", n_layers=4)


def test_sweep_measures_each_repeat_count_on_the_same_batches(ckpt, tmp_path):
    loaded = load_model(ckpt)
    model = loaded.model
    torch.manual_seed(0)
    batches = [(torch.randint(0, 259, (2, 12)), torch.randint(0, 259, (2, 12))) for _ in range(2)]
    calls = []

    def plans_seen(m):
        calls.append(m.plan)
        return {}

    result = repeat_sweep(model, 1, 3, 2, [nll_measure(batches), plans_seen], seq_len=16, progress=False)
    assert model.plan == (0, 1, 2, 3)  # restored
    assert calls == [repeat_block((0, 1, 2, 3), 1, 3, r) for r in range(3)]
    rows = result["rows"]
    assert [r["depth"] for r in rows] == [4, 6, 8]
    assert rows[0]["nll"] == pytest.approx(heldout_nll(model, batches)["loss"])
    with model.using_plan(repeat_block(model.plan, 1, 3, 2)):
        assert rows[2]["nll"] == pytest.approx(heldout_nll(model, batches)["loss"])
    assert (
        rows[0]["inference_flops_per_token"]
        < rows[1]["inference_flops_per_token"]
        < rows[2]["inference_flops_per_token"]
    )
    json_path, png_path = write_sweep(result, tmp_path)
    assert json.loads(json_path.read_text())["rows"][1]["nll"] == rows[1]["nll"]
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(PlanError, match="block 3:9"):
        repeat_sweep(model, 3, 9, 1, [], progress=False)


def test_the_sweep_figure_puts_each_chance_level_in_the_legend(tmp_path, monkeypatch):
    import lightning_iter.eval.repeat_sweep as module

    figures = []
    monkeypatch.setattr(module, "save_figure_atomic", lambda fig, path: figures.append(fig))
    accuracy = {"copy_random@0": 0.1, "assign_basic@0": 0.2, "assign_basic@1": 0.4}
    rows = [{"extra": r, "depth": 4 + 2 * r, "primitives": accuracy, "primitives_mean": 0.15} for r in range(2)]
    write_sweep({"block": [1, 3], "base_plan": [0, 1, 2, 3], "n_unique": 4, "rows": rows}, tmp_path)
    (ax,) = figures[0].axes
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "chance 10 % (copy_random)" in labels and "chance 20 % (assign_basic)" in labels
    assert ax.get_ylabel() == "reasoning-primitive accuracy (%)"


def test_primitives_measure_plugs_in(ckpt):
    loaded = load_model(ckpt)
    measure = primitives_measure(loaded.tokenizer, tasks=["copy_random"], n_items=2, shots=1, batch_size=2)
    result = repeat_sweep(loaded.model, 1, 3, 1, [measure], progress=False)
    for row in result["rows"]:
        assert 0.0 <= row["primitives_mean"] <= 1.0 and set(row["primitives"]) == {"copy_random@0"}


def test_repeat_sweep_command_writes_json_and_png(ckpt, tmp_path, capsys):
    out = tmp_path / "sweep"
    code = cli_main(
        [
            "repeat_sweep",
            "--ckpt_path",
            str(ckpt),
            "--block",
            "1:3",
            "--max_extra",
            "2",
            "--metrics",
            "[nll]",
            "--nll_batches",
            "1",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "| 2 | 8 |" in printed and "repeat_sweep.png" in printed
    data = json.loads((out / "repeat_sweep.json").read_text())
    assert [r["extra"] for r in data["rows"]] == [0, 1, 2] and data["block"] == [1, 3]
    assert (out / "repeat_sweep.png").is_file()
    assert cli_main(["repeat-sweep", "--ckpt_path", str(ckpt), "--block", "1-3"]) == 2
    assert "--block='1-3'" in capsys.readouterr().err
