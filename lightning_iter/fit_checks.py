"""Checks of a `fit` run that Lightning and torch accept silently or answer with a traceback (issue 16).

`check_parsed` reads the parsed config before anything is built (trainer and optimizer fields);
`check_run` compares the built model, data and trainer (sequence length, step budgets) once training is set up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightning.pytorch.utilities import rank_zero_warn

from .errors import ConfigError, check_float, check_int


def _get(tree: Any, dotted: str) -> Any:
    """`tree["a"]["b"]` for `"a.b"` over dicts and jsonargparse Namespaces; None where a level is missing."""
    for part in dotted.split("."):
        if tree is None:
            return None
        tree = tree.get(part) if isinstance(tree, Mapping) or hasattr(tree, "get") else getattr(tree, part, None)
    return tree


def check_parsed(config: Any) -> None:
    """ConfigError for trainer/optimizer values that are nonsense (see the issue's table); `config` is one
    subcommand's parsed config."""
    clip = _get(config, "trainer.gradient_clip_val")
    if clip is not None:
        allowed = "it must be a finite number >= 0 (0 or null: no clipping)"
        check_float("trainer.gradient_clip_val", clip, 0, allowed=allowed)
    accumulate = _get(config, "trainer.accumulate_grad_batches")
    if accumulate is not None:
        check_int("trainer.accumulate_grad_batches", accumulate, 1)
    _check_val_check_interval(_get(config, "trainer.val_check_interval"))
    _check_devices(_get(config, "trainer.devices"))
    max_steps = _get(config, "trainer.max_steps")
    if max_steps is not None and max_steps != -1:
        check_int("trainer.max_steps", max_steps, 1, allowed="it must be an integer >= 1 (or -1: no step limit)")
    lr = _get(config, "model.optimizer.init_args.lr")
    if lr is not None:
        check_float("model.optimizer.init_args.lr", lr, above=0)
    _check_logger_callbacks(_get(config, "trainer.logger"), _get(config, "trainer.callbacks"))


LOGGING_CALLBACKS = ("LearningRateMonitor", "DeviceStatsMonitor")  # Lightning raises mid-setup without a logger


def _check_logger_callbacks(logger: Any, callbacks: Any) -> None:
    """`trainer.logger: false` with a callback that only logs: one error now, not Lightning's traceback at fit."""
    if logger is not False or not isinstance(callbacks, (list, tuple)):
        return
    for callback in callbacks:
        path = callback.get("class_path") if hasattr(callback, "get") else type(callback).__name__
        name = str(path or "").rsplit(".", 1)[-1]
        if name in LOGGING_CALLBACKS:
            raise ConfigError(
                f"trainer.logger=False is not allowed with trainer.callbacks {name}: it only logs, and needs a "
                f"logger (keep a logger, or drop {name} from trainer.callbacks)"
            )


def _check_val_check_interval(value: Any) -> None:
    allowed = "give an integer >= 1 (every N training batches) or a fraction in (0, 1] of an epoch"
    if value is None:
        return
    if isinstance(value, float) and not value.is_integer():
        check_float("trainer.val_check_interval", value, maximum=1.0, above=0, allowed=allowed)
    else:
        number = int(value) if isinstance(value, float) else value
        check_int("trainer.val_check_interval", number, 1, allowed=allowed)


def _check_devices(value: Any) -> None:
    allowed = "give a number of devices >= 1, -1 (all), 'auto', or a list of device indices"
    if value is None or value == "auto" or value == -1 or value == "-1":
        return
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",") if v.strip()]
        if "," not in value and items and items[0].lstrip("-").isdigit():  # "0," is Lightning's GPU index 0
            check_int("trainer.devices", int(items[0]), 1, allowed=allowed)
            return
        if not items or not all(v.isdigit() for v in items):
            raise ConfigError(f"trainer.devices={value!r} is not allowed: {allowed}")
        return
    if isinstance(value, (list, tuple)):
        if not value:
            raise ConfigError(f"trainer.devices={list(value)!r} is not allowed: {allowed}")
        return
    check_int("trainer.devices", value, 1, allowed=allowed)


def check_run(lm: Any, trainer: Any, datamodule: Any) -> None:
    """Errors and warnings that need the built model, data module and trainer (`LanguageModel.setup("fit")`)."""
    seq_len = getattr(datamodule, "seq_len", None)
    limit = lm.model.config.max_seq_len
    if isinstance(seq_len, int) and seq_len > limit:
        raise ConfigError(
            f"data.seq_len={seq_len} is not allowed: it is above the model's max_seq_len={limit} "
            "(lower data.seq_len, or raise model.arch_overrides.max_seq_len)"
        )
    max_steps = trainer.max_steps
    if max_steps is None or max_steps < 0:
        return
    total = lm.total_steps
    if total is not None and total < max_steps:
        raise ConfigError(
            f"model.total_steps={total} is not allowed: it is below trainer.max_steps={max_steps}, so the "
            f"learning rate would decay to 0 at step {total} and the last {max_steps - total} steps would not "
            "train (set model.total_steps >= trainer.max_steps, or leave it out to use max_steps)"
        )
    strategy = lm.depth_strategy
    growth = strategy.growth_steps()
    if growth and max(growth) >= max_steps:
        final = strategy.n_unique_at(max(growth))
        reached = strategy.n_unique_at(max_steps - 1)
        rank_zero_warn(
            f"model.depth.horizon: growth ends at step {max(growth)}, after trainer.max_steps={max_steps}: "
            f"this run ends with {reached} of {final} unique layers (resume with a larger max_steps to finish)",
        )
    retrofit = strategy.retrofit
    if retrofit is not None and retrofit.start_step >= max_steps:
        rank_zero_warn(
            f"model.depth.retrofit.start_step={retrofit.start_step} is at or after trainer.max_steps={max_steps}: "
            "this run ends before the retrofit stage starts (resume with a larger max_steps to train it)",
        )


def check_n_layers(arch_overrides: Mapping[str, Any] | None, strategy: Any) -> None:
    """Warn when an explicit `model.arch_overrides.n_layers` is not the unique-layer count the depth strategy ends
    with (a loop has encode+layers+decode unique layers, a grow operator its target depth): it is ignored."""
    given = (arch_overrides or {}).get("n_layers")
    if given is None:
        return
    try:
        final = strategy.n_unique_at(max(strategy.growth_steps(), default=0))
    except NotImplementedError:  # a first-API strategy without per-step answers
        return
    if final != given:
        rank_zero_warn(
            f"model.arch_overrides.n_layers={given!r} is ignored: depth strategy {strategy.strategy_name!r} trains "
            f"{final} unique layers (a loop has encode+layers+decode, a grow operator its target_depth); "
            "drop n_layers or make the two agree"
        )
