"""Resume under the run given now: the config and flags given with `fit --ckpt_path` are the run (issue 16).

LightningCLI would replace the model's arguments with the ones saved in the checkpoint; `fit` does not. What
would change the weights' shapes or the depth of the steps already trained is one error naming the field and
both values (`checkpoint.check_compatible`, `check_depth_state`); what may change (the optimizer's
hyper-parameters, max_steps, logging, validation, callbacks, data) changes, one announced line per field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_warn

from .callbacks.checkpointing import announce as _announce
from .checkpoint import CHECKPOINT_KEY, RUN_FIELD, diagnose_checkpoint
from .distributed_checkpoint import load_metadata
from .errors import CheckpointError, ConfigError
from .model.plan import format_plan

# Checked when the checkpoint loads (shapes, the depth strategy), where both sides are normalised.
CHECKED_AT_LOAD = ("model.arch", "model.arch_overrides", "model.vocab_size", "model.depth")
# Model fields that keep the weights' shapes and function: they may change at resume.
FREE_MODEL_FIELDS = ("kernels", "name", "activation_checkpointing")
# Not compared with the recorded run: the checkpoint itself, config file names, and the optimizer's arguments
# (compared with the restored optimizer state instead, `apply_optimizer_hyperparameters`).
NOT_COMPARED = ("ckpt_path", "config", "model.optimizer.init_args")


def check_resume_file(path: str | Path) -> None:
    """One CheckpointError saying why `path` cannot be resumed from (empty, torn, random, not ours), else nothing.

    Runs before LightningCLI or the Trainer call `torch.load` on it, whose errors are tracebacks."""
    problem, entry_error = diagnose_checkpoint(path, source="checkpoint")
    if problem is None:
        return
    if entry_error is not None:  # its entry's own message, if the entry is what is wrong
        raise CheckpointError(f"--ckpt_path={path}: {entry_error}") from None
    raise CheckpointError(
        f"--ckpt_path={path} cannot be resumed from: it is {problem} "
        "(give a checkpoint written by `lightning_iter fit`, or --ckpt_path last)"
    )


def recorded_run(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """The run config the checkpoint recorded; for checkpoints without one, the model's saved arguments."""
    entry = checkpoint.get(CHECKPOINT_KEY) or {}
    if isinstance(entry.get(RUN_FIELD), dict):
        return entry[RUN_FIELD]
    hparams = {k: v for k, v in dict(checkpoint.get("hyper_parameters") or {}).items() if not k.startswith("_")}
    return {"model": hparams}


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}}` -> `{"a.b": 1}`; lists stay whole (one field)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def same(a: Any, b: Any) -> bool:
    """Equal as a config value: tuples and lists alike, floats within rounding, `{}` like None."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if a in ({}, None) and b in ({}, None):
        return True
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return a == b or math.isclose(a, b, rel_tol=1e-12)
    return type(a) is type(b) and a == b


def _under(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(f"{p}.") for p in prefixes)


def changed_fields(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """`(field, recorded value, value now)` for every field that may change at resume and did.

    Raises ConfigError for a change that cannot take effect: another optimizer class (its state is restored)."""
    old, new = flatten(recorded), flatten(current)
    if set(recorded) == {"model"}:  # an older checkpoint records the model's arguments only
        new = {k: v for k, v in new.items() if k.startswith("model.")}
    rows = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if same(a, b) or _under(key, NOT_COMPARED):
            continue
        if _under(key, CHECKED_AT_LOAD) and not any(key == f"model.arch_overrides.{f}" for f in FREE_MODEL_FIELDS):
            continue
        if key == "model.optimizer.class_path":
            raise ConfigError(
                f"resume: model.optimizer.class_path={b!r} differs from the checkpoint's {a!r}: the checkpoint's "
                "optimizer state belongs to its optimizer (change the optimizer in a new run, not at resume)"
            )
        rows.append((key, a, b))
    return rows


def announce_changes(checkpoint_path: str | Path, current: Mapping[str, Any]) -> list[str]:
    """Announce, one line per field, what this run changes against the run the checkpoint recorded."""
    checkpoint = load_metadata(checkpoint_path)  # a file, memory-mapped, or a distributed checkpoint's meta.pt
    lines = [f"resume: {key} {a!r} -> {b!r}" for key, a, b in changed_fields(recorded_run(checkpoint), current)]
    for line in lines:
        _announce(line)
    warn_if_nothing_to_train(int(checkpoint.get("global_step", 0)), (current.get("trainer") or {}).get("max_steps"))
    return lines


def warn_if_nothing_to_train(step: int, max_steps: Any) -> None:
    """Warn when the resumed run's `trainer.max_steps` is at or below the checkpoint's step: Lightning then
    ends at once, trains nothing and writes no checkpoint."""
    if isinstance(max_steps, int) and not isinstance(max_steps, bool) and 0 <= max_steps <= step:
        rank_zero_warn(
            f"trainer.max_steps={max_steps} is at or below the checkpoint's step {step}: this run trains no step "
            f"and writes no checkpoint (give trainer.max_steps above {step} to continue training)"
        )


def check_depth_state(entry: Mapping[str, Any], strategy: Any, step: int) -> None:
    """Reject a checkpoint whose depth this run's strategy does not give: another strategy or parameters, a
    retrofit stage changed after it started, or unique layers / plan the strategy has at no step near `step`.

    A retrofit stage that starts at or after `step` may be added or changed (seed 000 §4: retrofit a trained run).
    """
    saved, current = dict(entry.get("depth") or {}), strategy.spec()
    if saved:
        for key in ["name", *sorted((set(saved) | set(current)) - {"name", "retrofit"})]:  # another strategy first
            if not same(saved.get(key), current.get(key)):
                raise CheckpointError(
                    f"resume: model.depth.{key}={current.get(key)!r} differs from the checkpoint's "
                    f"{saved.get(key)!r} (depth strategy {saved.get('name')!r}): the depth strategy of a resumed "
                    "run must be the one it was trained with; start a new run to train another"
                )
        old, new = saved.get("retrofit"), current.get("retrofit")
        started = [s for s in (old, new) if isinstance(s, Mapping) and s.get("start_step", step) < step]
        if not same(old, new) and started:
            raise CheckpointError(
                f"resume: model.depth.retrofit={new!r} differs from the checkpoint's {old!r}, and the stage "
                f"started at step {started[0]['start_step']}, before the checkpoint's step {step}: "
                "a retrofit stage can only be added or changed before it starts"
            )
    n_unique, plan = int(entry["n_unique"]), tuple(entry["plan"])
    try:
        expected = [(strategy.n_unique_at(s), tuple(strategy.plan_at(s))) for s in {max(step - 1, 0), step}]
    except NotImplementedError:  # a first-API strategy that cannot answer per step: nothing to compare
        return
    if (n_unique, plan) not in expected:
        n, p = expected[0]
        raise CheckpointError(
            f"resume: the checkpoint has {n_unique} unique layers and plan {format_plan(plan)} at step {step}, "
            f"but this run's depth ({strategy.describe()}) has {n} and plan {format_plan(p)} there: "
            "model.arch_overrides.n_layers and model.depth must be the ones the checkpoint was trained with "
            "(or was its plan edited?)"
        )


def optimizer_hyperparameters(optimizer: torch.optim.Optimizer) -> list[dict[str, Any]]:
    """Each parameter group's hyper-parameters (everything but the parameters), as the run configured them."""
    return [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]


def apply_optimizer_hyperparameters(
    optimizer: torch.optim.Optimizer, scheduler: Any, configured: list[dict[str, Any]]
) -> list[str]:
    """Put the run's own hyper-parameters back after Lightning restored the checkpoint's optimizer and scheduler
    state (which carry the old learning rate); the schedule's lr at the restored step follows. Announces them."""
    lines: list[str] = []
    for group, fresh in zip(optimizer.param_groups, configured, strict=False):
        for key, value in fresh.items():
            if key == "lr" or same(group.get(key), value):
                continue
            name = "lr" if key == "initial_lr" else key
            line = f"resume: model.optimizer.init_args.{name} {group.get(key)!r} -> {value!r}"
            if line not in lines:
                lines.append(line)
            group[key] = value
    if isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR):
        scheduler.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        for group, base, factor in zip(optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas, strict=True):
            group["lr"] = base * factor(scheduler.last_epoch)
        scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]
    for line in lines:
        _announce(line)
    return lines
