"""Resume honours the run given now (`lightning_iter/resume.py`): the new learning rate is the one used, legitimate
changes are announced, and what the checkpoint cannot continue under is one error naming both values."""

from functools import partial
from pathlib import Path

import lightning as L
import pytest
import torch

from lightning_iter.cli import main
from lightning_iter.depth import get_strategy
from lightning_iter.errors import CheckpointError, ConfigError
from lightning_iter.lr_schedule import wsd_factor
from lightning_iter.model import ModelConfig
from lightning_iter.resume import changed_fields, check_depth_state
from tests.faults.test_bad_input import build_files, newest_checkpoint
from tests.helpers import Recorder, small_data, small_lm, trainer

BASELINE = {"name": "baseline"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 3-step baseline run at lr 3e-3 and its checkpoint."""
    path = tmp_path_factory.mktemp("resume") / "step3.ckpt"
    L.seed_everything(0)
    run = trainer(max_steps=3)
    run.fit(small_lm(BASELINE, n_layers=2), small_data())
    run.save_checkpoint(path)
    return path


def _resume(path, lr):
    recorder = Recorder()
    lm = small_lm(BASELINE, n_layers=2, optimizer=partial(torch.optim.AdamW, lr=lr, betas=(0.9, 0.95)))
    run = trainer(max_steps=6, callbacks=[recorder])
    run.fit(lm, small_data(), ckpt_path=str(path))
    return recorder.rows, run


def test_a_new_learning_rate_at_resume_is_the_one_used(trained, capsys):
    same, _ = _resume(trained, 3e-3)
    capsys.readouterr()
    lower, run = _resume(trained, 1e-3)
    out = capsys.readouterr().out
    schedule = [wsd_factor(step, warmup_steps=2, total_steps=6, decay_steps=round(0.15 * 6)) for step in range(3, 6)]
    assert [row[0] for row in lower] == [3, 4, 5]
    assert [row[3] for row in lower] == pytest.approx([1e-3 * f for f in schedule])
    assert [row[3] for row in same] == pytest.approx([3e-3 * f for f in schedule])
    group = run.optimizers[0].param_groups[0]
    assert group["initial_lr"] == 1e-3 and run.lr_scheduler_configs[0].scheduler.base_lrs == [1e-3, 1e-3]
    assert lower[0][2] == same[0][2]  # the same weights give the same first loss ...
    assert lower[1][2] != same[1][2] and lower[2][2] != same[2][2]  # ... then the smaller steps show
    assert out.count("resume: model.optimizer.init_args.lr 0.003 -> 0.001") == 1


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    return build_files(tmp_path_factory.mktemp("resume_cli"), strategies=("baseline",), damaged=False)


def test_the_cli_announces_each_changed_field_and_records_the_run(cli_files, capsys):
    argv = ["fit", "--config", cli_files["baseline_cfg"], "--ckpt_path", cli_files["baseline_ckpt"]]
    changes = [
        "--trainer.max_steps",
        "4",
        "--trainer.log_every_n_steps",
        "2",
        "--model.arch_overrides.kernels",
        "torch",
    ]
    capsys.readouterr()
    assert main([*argv, *changes]) == 0
    out = capsys.readouterr().out.splitlines()
    for line in (
        "resume: trainer.max_steps 2 -> 4",
        "resume: trainer.log_every_n_steps 1 -> 2",
        "resume: model.arch_overrides.kernels None -> 'torch'",
    ):
        assert sum(line in o for o in out) == 1, out
    assert not any("resume: model.optimizer" in o for o in out)  # the lr did not change
    written = newest_checkpoint(Path(cli_files["baseline_cfg"]).parent / "run-baseline")
    run = torch.load(written, weights_only=True)["lightning_iter"]["run"]
    assert run["trainer"]["max_steps"] == 4 and run["model"]["arch_overrides"]["kernels"] == "torch"


def test_changed_fields_leaves_shapes_and_the_optimizer_to_their_own_checks():
    recorded = {
        "trainer": {"max_steps": 2, "precision": "32-true"},
        "model": {
            "arch": "tiny",
            "arch_overrides": {"d_model": 32},
            "depth": {"name": "baseline"},
            "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 0.003, "betas": [0.9, 0.95]}},
        },
        "ckpt_path": None,
    }
    current = {
        "trainer": {"max_steps": 4, "precision": "32-true"},
        "model": {
            "arch": "tiny",
            "arch_overrides": {"d_model": 48, "kernels": "torch"},
            "depth": {"name": "lidas"},
            "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 0.001, "betas": (0.9, 0.95)}},
        },
        "ckpt_path": "x.ckpt",
    }
    assert changed_fields(recorded, current) == [
        ("model.arch_overrides.kernels", None, "torch"),
        ("trainer.max_steps", 2, 4),
    ]
    current["model"]["optimizer"]["class_path"] = "torch.optim.SGD"
    with pytest.raises(
        ConfigError, match=r"model.optimizer.class_path='torch.optim.SGD' differs .* 'torch.optim.AdamW'"
    ):
        changed_fields(recorded, current)
    older = {"model": {"arch": "tiny", "warmup_steps": 10}}  # a checkpoint with the model's arguments only
    assert changed_fields(older, {"trainer": {"max_steps": 9}, "model": {"arch": "tiny", "warmup_steps": 5}}) == [
        ("model.warmup_steps", 10, 5)
    ]


CONFIG = ModelConfig(n_layers=4, d_model=32, n_heads=2, n_kv_heads=1, ffn_dim=64)
GROW = {"name": "lidas", "block_size": 1, "initial_depth": 1, "horizon": 6}


def _strategy(spec):
    strategy = get_strategy(**spec)
    strategy.setup(CONFIG)
    return strategy


def _entry(spec, step):
    strategy = _strategy(spec)
    s = max(step - 1, 0)
    return {"depth": strategy.spec(), "n_unique": strategy.n_unique_at(s), "plan": list(strategy.plan_at(s))}


@pytest.mark.parametrize(
    "saved, now, step, message",
    [
        ({"name": "loop", "layers": 2, "repeats": 2}, GROW, 3, r"model.depth.name='lidas' differs .* 'loop'"),
        (GROW, {**GROW, "horizon": 9}, 3, r"model.depth.horizon=9 differs from the checkpoint's 6"),
        (
            {**GROW, "retrofit": {"start_step": 4, "block": [1, 3]}},
            {**GROW, "retrofit": {"start_step": 4, "block": [0, 2]}},
            5,
            r"model.depth.retrofit=.* the stage started at step 4, before the checkpoint's step 5",
        ),
    ],
    ids=["another-strategy", "another-parameter", "retrofit-changed-after-it-started"],
)
def test_a_checkpoint_of_another_depth_is_one_error(saved, now, step, message):
    with pytest.raises(CheckpointError, match=message):
        check_depth_state(_entry(saved, step), _strategy(now), step)


def test_a_retrofit_stage_may_be_added_before_it_starts():
    check_depth_state(_entry(GROW, 6), _strategy({**GROW, "retrofit": {"start_step": 6, "block": [0, 2]}}), 6)
    check_depth_state(_entry(GROW, 6), _strategy(GROW), 6)  # the same run at any step passes


def test_an_edited_plan_or_another_layer_count_is_one_error():
    entry = {**_entry(BASELINE, 3), "plan": [0, 1, 2, 3] * 2}
    with pytest.raises(CheckpointError, match=r"plan 0 1 2 3 0 1 2 3 at step 3, but .* has 4 and plan 0 1 2 3"):
        check_depth_state(entry, _strategy(BASELINE), 3)
    entry = {**_entry(BASELINE, 3), "n_unique": 6, "plan": list(range(6))}
    with pytest.raises(CheckpointError, match=r"has 6 unique layers .* model.arch_overrides.n_layers"):
        check_depth_state(entry, _strategy(BASELINE), 3)
