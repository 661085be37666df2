"""`lightning_iter/fit_checks.py`: trainer and optimizer values Lightning accepts silently (or answers with a
traceback) are one ConfigError naming the field; run-level mismatches are errors or warnings saying what happens."""

from types import SimpleNamespace

import pytest

from lightning_iter.depth import get_strategy
from lightning_iter.errors import ConfigError
from lightning_iter.fit_checks import check_n_layers, check_parsed, check_run
from lightning_iter.model import ModelConfig


def _config(**trainer):
    lr = trainer.pop("lr", 0.003)
    return {"trainer": trainer, "model": {"optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": lr}}}}


@pytest.mark.parametrize(
    "field, value",
    [
        ("gradient_clip_val", -1),
        ("gradient_clip_val", float("nan")),
        ("accumulate_grad_batches", 0),
        ("val_check_interval", 0),
        ("val_check_interval", 0.0),
        ("val_check_interval", 1.5),
        ("val_check_interval", -2),
        ("devices", 0),
        ("devices", "0"),
        ("devices", -2),
        ("devices", []),
        ("devices", "a,b"),
        ("max_steps", 0),
        ("lr", 0),
        ("lr", -1e-3),
    ],
)
def test_nonsense_is_one_error_naming_the_field(field, value):
    name = "model.optimizer.init_args.lr" if field == "lr" else f"trainer.{field}"
    with pytest.raises(ConfigError, match=rf"^{name}=.* is not allowed: "):
        check_parsed(_config(**{field: value}))


@pytest.mark.parametrize(
    "field, value",
    [
        ("gradient_clip_val", 0),
        ("gradient_clip_val", None),
        ("accumulate_grad_batches", 4),
        ("val_check_interval", 100),
        ("val_check_interval", 0.25),
        ("val_check_interval", 1.0),
        ("devices", "auto"),
        ("devices", -1),
        ("devices", 2),
        ("devices", "0,1"),
        ("devices", "0,"),  # Lightning: GPU index 0, not zero devices
        ("devices", [0]),
        ("max_steps", -1),
        ("lr", 1e-4),
    ],
)
def test_sensible_values_pass(field, value):
    check_parsed(_config(**{field: value}))


@pytest.mark.parametrize("callback", ["lightning.pytorch.callbacks.LearningRateMonitor", "DeviceStatsMonitor"])
def test_no_logger_with_a_logging_callback_is_one_error(callback):
    config = _config(logger=False, callbacks=[{"class_path": callback}])
    with pytest.raises(ConfigError, match=r"^trainer.logger=False is not allowed with trainer.callbacks \w+Monitor"):
        check_parsed(config)


def test_no_logger_without_logging_callbacks_passes():
    check_parsed(_config(logger=False, callbacks=[{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint"}]))
    check_parsed(_config(logger=None, callbacks=[{"class_path": "lightning.pytorch.callbacks.LearningRateMonitor"}]))


CONFIG = ModelConfig(n_layers=4, d_model=32, n_heads=2, n_kv_heads=1, ffn_dim=64, max_seq_len=64)


def _lm(depth, total_steps=None):
    strategy = get_strategy(**depth)
    strategy.setup(CONFIG)
    return SimpleNamespace(model=SimpleNamespace(config=CONFIG), total_steps=total_steps, depth_strategy=strategy)


def _run(lm, max_steps, seq_len=16):
    check_run(lm, SimpleNamespace(max_steps=max_steps), SimpleNamespace(seq_len=seq_len))


def test_a_sequence_longer_than_the_model_is_an_error():
    with pytest.raises(ConfigError, match=r"data.seq_len=65 is not allowed: it is above the model's max_seq_len=64"):
        _run(_lm({"name": "baseline"}), 10, seq_len=65)
    _run(_lm({"name": "baseline"}), 10, seq_len=64)


def test_total_steps_below_max_steps_is_an_error():
    with pytest.raises(ConfigError, match=r"model.total_steps=5 is not allowed: it is below trainer.max_steps=10"):
        _run(_lm({"name": "baseline"}, total_steps=5), 10)
    _run(_lm({"name": "baseline"}, total_steps=20), 10)  # a schedule for a longer run, stopped early: allowed


def test_growth_beyond_max_steps_warns_with_the_layers_reached(recwarn):
    lm = _lm({"name": "lidas", "block_size": 1, "initial_depth": 1, "horizon": 40})
    _run(lm, lm.depth_strategy.growth_steps()[-1] + 1)
    assert not [w for w in recwarn if "model.depth.horizon" in str(w.message)]
    last = lm.depth_strategy.growth_steps()[-1]
    with pytest.warns(UserWarning, match=rf"growth ends at step {last}, .* this run ends with 3 of 4 unique layers"):
        _run(lm, last)


def test_a_retrofit_stage_after_max_steps_warns():
    lm = _lm({"name": "baseline", "retrofit": {"start_step": 10, "block": [0, 2]}})
    with pytest.warns(UserWarning, match=r"retrofit.start_step=10 is at or after trainer.max_steps=10: this run ends"):
        _run(lm, 10)


def test_n_layers_a_loop_ignores_is_warned(recwarn):
    loop = get_strategy("loop", layers=2, repeats=2, encode=1)
    loop.setup(CONFIG)
    check_n_layers({"n_layers": 3}, loop)
    check_n_layers({"d_model": 32}, loop)
    assert not recwarn.list
    with pytest.warns(UserWarning, match=r"n_layers=4 is ignored: depth strategy 'loop' trains 3 unique layers"):
        check_n_layers({"n_layers": 4}, loop)
