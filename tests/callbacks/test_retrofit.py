"""The `retrofit:` depth stage in a real fit: the plan switches exactly at start_step (after growth), survives
resume, adds no weights; DepthSchedule is the only callback that changes the model."""

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from lightning_iter.callbacks import depth_schedule
from lightning_iter.depth import Retrofit
from lightning_iter.errors import ConfigError
from lightning_iter.loading import load_model
from tests.helpers import small_data, small_lm, trainer

GROW = {"name": "lidas", "block_size": 1, "initial_depth": 1, "horizon": 6}  # growth at steps 1 and 3 (1 -> 3 layers)
RETROFIT = dict(start_step=3, block="1:3", extra=1)  # same step as the last growth: growth must run first
RETROFITTED = {**GROW, "retrofit": RETROFIT}


class PlanRecorder(L.Callback):
    """(step, plan, layer applications in the forward, loss) of every training batch."""

    def __init__(self) -> None:
        self.rows = []
        self.calls = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.calls = 0
        for layer in pl_module.model.layers:
            if not getattr(layer, "_counted", False):
                layer.register_forward_pre_hook(lambda *_: setattr(self, "calls", self.calls + 1))
                layer._counted = True

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.rows.append((trainer.global_step - 1, pl_module.model.plan, self.calls, float(outputs["loss"])))


@pytest.fixture(scope="module")
def retrofitted_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("retrofit")
    L.seed_everything(0)
    recorder = PlanRecorder()
    ckpt = ModelCheckpoint(dirpath=root, every_n_train_steps=1, save_top_k=-1, filename="{step}")
    lm = small_lm(RETROFITTED, n_layers=3)
    trainer(max_steps=6, callbacks=[recorder, ckpt], enable_checkpointing=True).fit(lm, small_data())
    return root, recorder.rows, lm


def test_plan_switches_exactly_at_start_step_after_growth(retrofitted_run):
    _, rows, lm = retrofitted_run
    assert [(step, plan, calls) for step, plan, calls, _ in rows] == [
        (0, (0,), 1),
        (1, (0, 1), 2),
        (2, (0, 1), 2),
        (3, (0, 1, 2, 1, 2), 5),
        (4, (0, 1, 2, 1, 2), 5),
        (5, (0, 1, 2, 1, 2), 5),
    ]
    assert lm.model.n_unique == 3  # no new weights


@pytest.mark.parametrize("resume_step", [2, 3, 4], ids=["before-switch", "at-switch", "after-switch"])
def test_resume_continues_exactly_as_the_uninterrupted_run(retrofitted_run, resume_step):
    root, rows, _ = retrofitted_run
    L.seed_everything(123)
    recorder = PlanRecorder()
    trainer(max_steps=6, callbacks=[recorder]).fit(
        small_lm(RETROFITTED, n_layers=3), small_data(), ckpt_path=str(root / f"step={resume_step}.ckpt")
    )
    assert [row[:3] for row in recorder.rows] == [row[:3] for row in rows[resume_step:]]
    torch.testing.assert_close([r[3] for r in recorder.rows], [r[3] for r in rows[resume_step:]], rtol=0, atol=0)


def test_a_run_without_the_stage_is_retrofitted_on_resume(retrofitted_run, tmp_path, monkeypatch):
    """The paper config's use: resume a plain LIDAS checkpoint with `retrofit:` added; growth first, one message."""
    _, rows, _ = retrofitted_run
    L.seed_everything(0)
    plain = trainer(max_steps=3)
    plain.fit(small_lm(GROW, n_layers=3), small_data())
    plain.save_checkpoint(tmp_path / "plain.ckpt")
    messages = []
    monkeypatch.setattr(depth_schedule, "rank_zero_info", messages.append)
    recorder = PlanRecorder()
    trainer(max_steps=6, callbacks=[recorder]).fit(
        small_lm(RETROFITTED, n_layers=3), small_data(), ckpt_path=str(tmp_path / "plain.ckpt")
    )
    assert [row[:3] for row in recorder.rows] == [row[:3] for row in rows[3:]]
    torch.testing.assert_close([r[3] for r in recorder.rows], [r[3] for r in rows[3:]], rtol=0, atol=0)
    steps = [m for m in messages if m.startswith("[lightning_iter] step")]
    assert steps[0].startswith("[lightning_iter] step 3: grew to 3 layers")
    assert steps[1:] == [
        "[lightning_iter] step 3: retrofitted recurrence, plan positions 1..2 x2: plan 0 1 2 1 2 "
        "(effective depth 5, 3 unique layers)"
    ]


def test_checkpoint_after_the_switch_loads_with_the_looped_plan(retrofitted_run):
    root, _, _ = retrofitted_run
    assert load_model(root / "step=5.ckpt").model.plan == (0, 1, 2, 1, 2)
    assert load_model(root / "step=2.ckpt").model.plan == (0, 1)
    saved = torch.load(root / "step=5.ckpt", weights_only=False)["lightning_iter"]["depth"]
    assert saved["retrofit"] == RETROFIT


def test_block_of_a_grown_model_and_bad_arguments():
    stage = Retrofit.from_spec(dict(start_step=0, block_index=2, block_size=4))
    assert (stage.start, stage.end) == (8, 12)
    assert stage.plan_at(0, tuple(range(24)))[:17] == (*range(12), 8, 9, 10, 11, 12)
    with pytest.raises(ConfigError, match="exactly one of block"):
        Retrofit.from_spec(dict(start_step=0))
    with pytest.raises(ConfigError, match="extra"):
        Retrofit.from_spec(dict(start_step=0, block="1:2", extra=0))
    with pytest.raises(ConfigError, match="before the last growth step"):
        trainer(max_steps=2).fit(
            small_lm({**GROW, "retrofit": {"start_step": 1, "block": "0:1"}}, n_layers=3), small_data()
        )


@pytest.mark.parametrize(
    "retrofit, message",
    [
        (
            {"start_step": 3, "block": "2:4"},
            r"depth.retrofit.block=2:4 is outside the full-depth plan: it has effective depth 3, so the block must lie "
            r"within plan positions 0:3",
        ),
        (
            {"start_step": 3, "block": "3:1"},
            r"depth.retrofit.block='3:1' is not allowed: give plan positions \[START, END\]",
        ),
        ({"start_step": 3, "block": [2, 1]}, r"depth.retrofit.block=\[2, 1\] is not allowed: give plan positions"),
        ({"start_step": 3, "block": [0, "2"]}, r"depth.retrofit.block\[1\]='2' is not allowed"),
        # an unquoted 2:4 in YAML (or one LightningCLI wrote back unquoted) reads as the base-60 number 124
        ({"start_step": 3, "block": 124}, r"depth.retrofit.block=124 is not allowed: write the plan positions as"),
        (
            {"start_step": 3, "block": "1:2", "extra": 0},
            r"depth.retrofit.extra=0 is not allowed: it must be an integer >= 1",
        ),
        (
            {"start_step": -1, "block": "1:2"},
            r"depth.retrofit.start_step=-1 is not allowed: it must be an integer >= 0",
        ),
        ({"start_step": 3, "block_index": 0}, r"depth.retrofit.block_size=None is not allowed"),
        ({"start_step": 3, "block": "1:2", "extras": 2}, r"depth.retrofit.extras is not a field of the retrofit stage"),
        ({"block": "1:2"}, r"depth.retrofit needs start_step"),
        ({"start_step": 3, "block": [1, 2], "block_size": 4}, r"depth.retrofit.block_size=4 is not allowed with block"),
    ],
)
def test_bad_retrofit_stage_names_the_field(retrofit, message):
    with pytest.raises(ConfigError, match=message):
        small_lm({**GROW, "retrofit": retrofit}, n_layers=3)


def test_block_as_a_list_equals_the_string_form():
    assert Retrofit.from_spec({"start_step": 3, "block": [1, 3]}) == Retrofit.from_spec(RETROFIT)
