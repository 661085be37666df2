"""One run directory per run name: `<save_dir>/<run name>/` holds the run's `checkpoints/` and its loggers' files.

The run name is `--run_name`, else the logger's own `name` when the config sets one, else the config files' stems
joined by `_` (`configs/quickstart.yaml` -> `quickstart`; with an overlay `smollm-1.7b-lidas_cooldown-nmt20`), else
`run`. Lightning's loggers keep their `version_N` folders inside it, one per attempt (the first fit, each resume),
so a resumed run's logs never mix with the killed one's. Fitting a name whose directory already holds checkpoints
needs `--ckpt_path` (`last`/`auto` resume it): one clear error otherwise, never a second run silently written into
the same directory (only logs of attempts that wrote no checkpoint: a new attempt beside them, announced).
`validate` logs into `<run dir>/validate`, not into a new fit attempt.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigError

DEFAULT_RUN_NAME = "run"
RUN_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# Loggers whose files go to `<save_dir>/<name>/<version>` (their default `name` is Lightning's `lightning_logs`).
FOLDER_LOGGERS = ("TensorBoardLogger", "CSVLogger")
DEFAULT_LOGGER_NAME = "lightning_logs"
# Lines Lightning prints on every run that are advertisements, not information about this run.
NOISE = ("💡 Tip: For seamless cloud",)


def check_run_name(name: str) -> str:
    """A run name is one path component: letters, digits, `.`, `_`, `-` (it names a folder)."""
    if not RUN_NAME_PATTERN.match(name) or name in (".", ".."):
        raise ConfigError(
            f"run_name={name!r} is not a valid run name: use letters, digits, '.', '_' and '-' "
            "(one folder name, not a path; no leading '.' or '-')"
        )
    return name


def _class_name(spec: Any) -> str:
    class_path = getattr(spec, "class_path", None) or (spec.get("class_path") if isinstance(spec, dict) else None)
    return str(class_path or "").rsplit(".", 1)[-1]


def _init_args(spec: Any) -> Any:
    return getattr(spec, "init_args", None) if not isinstance(spec, dict) else spec.get("init_args")


def choose_run_name(flag: str | None, logger: Any, config_files: Sequence[Any]) -> str:
    """`--run_name`, else the logger's explicit `name`, else the config files' stems joined by `_`, else `run`."""
    if flag:
        return check_run_name(flag)
    specs = logger if isinstance(logger, list) else [logger]
    for spec in specs:
        args = _init_args(spec)
        name = getattr(args, "name", None) if args is not None else None
        if _class_name(spec) in FOLDER_LOGGERS and name and name != DEFAULT_LOGGER_NAME:
            return check_run_name(str(name))
    stems = (Path(str(getattr(path, "relative", path))).stem for path in config_files or [])
    stems = [stem for stem in dict.fromkeys(stems) if stem and RUN_NAME_PATTERN.match(stem)]
    # an overlay (`--config paper.yaml --config configs/data/cooldown-nmt20.yaml`) names a run of its own
    return "_".join(stems) if stems else DEFAULT_RUN_NAME


def name_loggers(trainer_config: Any, run_name: str, subcommand: str) -> None:
    """Point the configured loggers at the run (in the parsed config, before Lightning instantiates them).

    No logger configured (`True`/`None`): Lightning's default TensorBoard logger, named for the run. Folder loggers
    (TensorBoard, CSV) get `name=<run name>` (and `version=validate`/`test` outside `fit`); MLflow and W&B get the
    run name as their run's name when they have none.
    """
    from jsonargparse import Namespace

    root = trainer_config.get("default_root_dir") or os.getcwd()
    logger = trainer_config.get("logger")
    if logger is None or logger is True:
        logger = Namespace(class_path="lightning.pytorch.loggers.TensorBoardLogger", init_args=Namespace(save_dir=root))
        trainer_config["logger"] = logger
    for spec in logger if isinstance(logger, list) else [logger]:
        if spec is False or _init_args(spec) is None:
            continue
        args, kind = _init_args(spec), _class_name(spec)
        if kind in FOLDER_LOGGERS:
            args["name"] = run_name
            if subcommand != "fit":
                args["version"] = subcommand
        elif kind == "MLFlowLogger" and not args.get("run_name"):
            args["run_name"] = run_name
        elif kind == "WandbLogger" and not args.get("name"):
            args["name"] = run_name


def run_directory(trainer: Any, run_name: str) -> Path:
    """`<save_dir>/<run name>` of the first folder logger, else `<default_root_dir>/<run name>`."""
    for logger in trainer.loggers:
        if type(logger).__name__ in FOLDER_LOGGERS or hasattr(logger, "root_dir"):
            if getattr(logger, "name", None) == run_name and logger.save_dir:
                return Path(logger.save_dir) / run_name
    return Path(trainer.default_root_dir) / run_name


def earlier_checkpoints(run_dir: Path) -> list[str]:
    """The checkpoint names an earlier fit of this run name left in `run_dir/checkpoints`."""
    folder = run_dir / "checkpoints"
    return sorted(p.name for p in folder.glob("*.ckpt") if not p.name.startswith(".")) if folder.is_dir() else []


def check_fresh(run_dir: Path, run_name: str, ckpt_path: Any) -> str | None:
    """A fit without `--ckpt_path` must not write into the directory of an earlier run that left checkpoints.

    Only the logs of attempts that wrote no checkpoint (e.g. a fit that failed at start-up): a new attempt folder
    beside them, and the returned line says so.
    """
    if ckpt_path:
        return None
    checkpoints = earlier_checkpoints(run_dir)
    if checkpoints:
        shown = ", ".join(checkpoints[:3]) + (", ..." if len(checkpoints) > 3 else "")
        raise ConfigError(
            f"run_name={run_name!r}: the run directory {run_dir} already holds a run ({len(checkpoints)} "
            f"checkpoint(s) in checkpoints/: {shown}): resume it with --ckpt_path last (or auto), or give another "
            "--run_name"
        )
    attempts = sorted(p.name for p in run_dir.glob("version_*") if p.is_dir()) if run_dir.is_dir() else []
    if attempts:
        return f"{run_dir} holds the logs of {', '.join(attempts)} but no checkpoint: starting a new attempt there"
    return None


def logger_lines(trainer: Any, run_dir: Path) -> list[str]:
    """One line per logger saying where its records are and how to look at them."""
    lines = []
    for logger in trainer.loggers:
        kind = type(logger).__name__
        if kind == "TensorBoardLogger":
            lines.append(f"logs: {Path(logger.log_dir).resolve()}  (tensorboard --logdir {run_dir.resolve()})")
        elif kind == "CSVLogger":
            lines.append(f"metrics: {(Path(logger.log_dir) / 'metrics.csv').resolve()}")
        elif kind == "MLFlowLogger":
            uri = getattr(logger, "_tracking_uri", None) or logger.save_dir
            lines.append(f"mlflow run {logger.run_id}  (mlflow ui --backend-store-uri {uri})")
        elif kind == "WandbLogger":
            where = getattr(logger.experiment, "dir", None) or logger.save_dir
            lines.append(f"wandb run: {Path(str(where)).parent.resolve()}  (offline: wandb sync <that folder>)")
        else:
            lines.append(f"logger {kind}: {getattr(logger, 'log_dir', None) or logger.save_dir}")
    return lines


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(NOISE)


def quiet_lightning() -> None:
    """Drop Lightning's advertisement lines (the litlogger/litmodels tips) from its rank-zero log."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        log = logging.getLogger(name)
        if not any(isinstance(f, _DropNoise) for f in log.filters):
            log.addFilter(_DropNoise())


def model_line(lm: Any, max_steps: int) -> str:
    """The parameter count now and at the end of the depth schedule (Lightning's summary shows only the first)."""
    model, strategy = lm.model, lm.depth_strategy
    now = model.num_parameters()
    growth = strategy.growth_steps()
    if not growth:
        return f"model: {now:,} parameters, {model.n_unique} unique layers, effective depth {model.depth}"
    end = max_steps if max_steps and max_steps > 0 else growth[-1]
    final_unique = strategy.n_unique_at(end)
    per_layer = sum(p.numel() for p in model.layers[0].parameters())
    final = now + (final_unique - model.n_unique) * per_layer
    return (
        f"model: {now:,} parameters at {model.n_unique} unique layers now; {final:,} at the end of this run "
        f"({final_unique} unique layers, effective depth {len(strategy.plan_at(end))})"
    )
