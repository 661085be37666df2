"""The LightningModule: next-token loss, AdamW with the WSD schedule, metrics, depth-aware checkpoints."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

import lightning as L
import torch
from lightning.pytorch.cli import OptimizerCallable
from lightning.pytorch.utilities import rank_zero_warn
from torch.optim.lr_scheduler import LambdaLR
from torchmetrics import MeanMetric

from .callbacks.throughput import is_logging_step
from .checkpoint import CHECKPOINT_KEY, build_entry, check_compatible, data_state, read_entry
from .depth import DepthStrategy, get_strategy
from .depth.sharded import shard_new_layers
from .errors import CheckpointError, ConfigError, check_float
from .fit_checks import check_n_layers, check_run
from .fused_optimizer import fuse_by_default, place_step_counts
from .init_tokenizer import check_init_tokenizer
from .lr_schedule import validate_wsd, wsd_factor
from .model import ModelConfig, Transformer
from .model.hf import IMPORT_OVERRIDES, load_hf
from .model.loss import IGNORE_INDEX
from .resume import apply_optimizer_hyperparameters, check_depth_state, optimizer_hyperparameters


class LanguageModel(L.LightningModule):
    """Trains a `Transformer` whose depth is decided by a registered depth strategy.

    Args:
        arch: model preset (`tiny`, `smollm-135m`, `smollm-360m`, `smollm-1.7b`).
        arch_overrides: fields of `ModelConfig` to change, e.g. `{n_layers: 12, kernels: torch}`.
        vocab_size: overrides the preset's vocabulary (the CLI links it to the data's tokenizer).
        depth: the depth strategy, `{name: <registered name>, **params}`.
        optimizer: optimizer factory; called with two parameter groups (matrices with the optimizer's
            weight decay, gains with none) and rebuilt by nobody: growth extends it in place.
        warmup_steps, decay_fraction, total_steps: trapezoidal WSD schedule (seed 004 App. A); the decay
            covers the last `decay_fraction` of `total_steps` (default: trainer.max_steps).
        compile: `torch.compile` every unique layer (grown layers too); `true` or a dict of torch.compile
            options, e.g. `{mode: max-autotune}`.
        init_from: `hf:DIR` starts from a Hugging Face Llama directory's weights (in fp32); its config.json
            replaces `arch`, and the depth strategy must start at its unique-layer count (`import_initial_model`).
    """

    def __init__(
        self,
        arch: str = "tiny",
        arch_overrides: dict[str, Any] | None = None,
        vocab_size: int | None = None,
        depth: dict[str, Any] | None = None,
        optimizer: OptimizerCallable = torch.optim.AdamW,
        warmup_steps: int = 100,
        decay_fraction: float = 0.15,
        total_steps: int | None = None,
        compile: bool | dict[str, Any] = False,
        init_from: str | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer"])
        overrides = dict(arch_overrides or {})
        if vocab_size is not None:
            overrides["vocab_size"] = vocab_size
        imported = import_initial_model(init_from, overrides) if init_from else None
        self.target_config = imported.config if imported is not None else ModelConfig.from_name(arch, **overrides)
        spec = dict(depth or {"name": "baseline"})
        if "name" not in spec:
            raise ConfigError(f"depth={spec!r} has no 'name': give a registered strategy, e.g. {{name: lidas, ...}}")
        self.depth_strategy: DepthStrategy = get_strategy(**spec)
        self.depth_strategy.setup(self.target_config)
        if not init_from:
            check_n_layers(arch_overrides, self.depth_strategy)
        n_unique, plan = self.depth_strategy.initial_layers()
        if imported is not None:
            self.model = adopt_imported(imported, str(init_from), spec["name"], n_unique, plan)
        else:
            self.model = Transformer(replace(self.target_config, n_layers=n_unique), plan)
        if compile:
            self.model.compile_layers(**(compile if isinstance(compile, dict) else {}))
        if not 0.0 <= decay_fraction <= 1.0:
            raise ConfigError(f"model.decay_fraction={decay_fraction!r} is not allowed: it must be in [0, 1]")
        self.optimizer_factory = optimizer
        self.warmup_steps = warmup_steps
        self.decay_fraction = decay_fraction
        self.total_steps = total_steps
        self.val_loss = MeanMetric()
        self.run_config: dict[str, Any] | None = None  # the CLI's config dump, recorded in checkpoints (resume.py)
        self._configured_hparams: list[dict[str, Any]] = []

    # ---- training ------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        if stage == "fit":
            check_run(self, self.trainer, getattr(self.trainer, "datamodule", None))
            if self.hparams.get("init_from"):  # the data must use the imported model's tokenizer
                check_init_tokenizer(str(self.hparams["init_from"]), self.data_state().get("tokenizer"))

    def on_train_start(self) -> None:
        """On resume: the run's optimizer hyper-parameters, not the restored checkpoint's (resume.py)."""
        if self.trainer.ckpt_path and self.trainer.optimizers and self._configured_hparams:
            configs = self.trainer.lr_scheduler_configs
            scheduler = configs[0].scheduler if configs else None
            apply_optimizer_hyperparameters(self.trainer.optimizers[0], scheduler, self._configured_hparams)
            place_step_counts(self.trainer.optimizers[0])  # a checkpoint of an unfused run resumed fused, or back

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model(tokens)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        inputs, targets = batch
        loss = self.model.loss(inputs, targets)
        if is_logging_step(self._trainer):  # the logger sees only these steps; the bar keeps the last value, no sync
            self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=False)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        inputs, targets = batch
        loss = self.model.loss(inputs, targets)
        self.val_loss.update(loss, weight=(targets != IGNORE_INDEX).sum())  # a token-weighted mean

    def on_validation_epoch_end(self) -> None:
        """val/loss over the whole validation set: `compute` all-reduces the weighted sum and the token count
        across ranks (torchmetrics), so the value is already global and logging it needs no second sync."""
        loss = self.val_loss.compute()
        self.val_loss.reset()
        self.log("val/loss", loss, prog_bar=True, sync_dist=False)
        self.log("val/ppl", torch.exp(loss), sync_dist=False)

    def configure_model(self) -> None:
        """Under ModelParallelStrategy (FSDP2): `fully_shard` each unique layer, then the root (depth/sharded.py)."""
        from lightning.pytorch.strategies import ModelParallelStrategy

        from .depth.sharded import check_shardable, shard_model

        if self._trainer is not None and isinstance(self.trainer.strategy, ModelParallelStrategy):
            check_shardable(self.device_mesh["tensor_parallel"].size(), self.hparams.compile)
            shard_model(self.model, self.device_mesh["data_parallel"])

    # ---- optimizer -----------------------------------------------------------------------------
    def schedule_steps(self) -> int:
        total = self.total_steps if self.total_steps is not None else self.trainer.max_steps
        if total is None or total < 1:
            raise ConfigError(
                f"trainer.max_steps={total!r}: the WSD learning-rate schedule needs a positive step budget "
                "(set trainer.max_steps or model.total_steps)"
            )
        return total

    def configure_optimizers(self) -> dict[str, Any]:
        matrices = [p for p in self.model.parameters() if p.ndim >= 2]
        gains = [p for p in self.model.parameters() if p.ndim < 2]
        try:
            optimizer = self.optimizer_factory([{"params": matrices}, {"params": gains, "weight_decay": 0.0}])
        except ValueError as err:  # torch's own checks, e.g. "Invalid learning rate: -1.0"
            raise ConfigError(f"model.optimizer is not allowed: {err}") from None
        fuse_by_default(optimizer)  # fused Adam/AdamW unless the config chose fused/foreach (fused_optimizer.py)
        check_float("model.optimizer.init_args.lr", optimizer.param_groups[0]["lr"], above=0)
        total = self.schedule_steps()
        decay = int(round(self.decay_fraction * total))
        validate_wsd(self.warmup_steps, total, decay)
        factor = partial(wsd_factor, warmup_steps=self.warmup_steps, total_steps=total, decay_steps=decay)
        scheduler = LambdaLR(optimizer, factor)
        self._configured_hparams = optimizer_hyperparameters(optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def configure_callbacks(self) -> list[L.Callback]:
        from .callbacks.depth_schedule import DepthSchedule
        from .callbacks.throughput import TrainingThroughput

        # Lightning replaces a trainer callback by one of the same type returned here: keep a configured one
        callbacks = self._trainer.callbacks if self._trainer is not None else []
        configured = any(isinstance(c, TrainingThroughput) for c in callbacks)
        return [DepthSchedule(), *([] if configured else [TrainingThroughput()])]

    # ---- checkpoints ---------------------------------------------------------------------------
    def data_state(self) -> dict[str, Any]:
        """The tokenizer spec and data module (class path + init args) the run trains on, when known."""
        trainer = self._trainer
        return data_state(getattr(trainer, "datamodule", None) if trainer is not None else None)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        spec = self.depth_strategy.spec()
        checkpoint[CHECKPOINT_KEY] = build_entry(self.model, spec, run=self.run_config, **self.data_state())

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Rebuild the checkpoint's depth before Lightning loads the weights (DESIGN.md §6, Resume)."""
        strategy = self._trainer.strategy if self._trainer is not None else None
        if self.restore_depth(checkpoint) and strategy is not None and strategy.restore_checkpoint_after_setup:
            raise CheckpointError(  # the weights were loaded into the layers before the resize: wrong ones
                f"checkpoint has {self.model.n_unique} unique layers, but trainer.strategy={type(strategy).__name__} "
                "loaded its weights into the model's initial layers: resume it under "
                "lightning_iter.distributed_checkpoint.ShardedCheckpointStrategy (what `lightning_iter fit` uses)"
            )

    def restore_depth(self, checkpoint: dict[str, Any]) -> bool:
        """Give the model the checkpoint's unique layers and plan (new layers sharded like the rest under FSDP2);
        True when the layers changed. `ShardedCheckpointStrategy` calls it before the shards load."""
        entry = read_entry(checkpoint, "checkpoint")
        check_compatible(entry, self.model.config)
        check_depth_state(entry, self.depth_strategy, int(checkpoint.get("global_step", 0)))
        n_unique = int(entry["n_unique"])
        if n_unique == self.model.n_unique:
            self.model.plan = tuple(entry["plan"])
            return False
        self.model.resize(n_unique, entry["plan"])
        shard_new_layers(self.model)
        return True


def import_initial_model(source: str, overrides: dict[str, Any]) -> Transformer:
    """`model.init_from=hf:DIR` in fp32; `overrides` may only hold fields that keep its shapes, and a vocabulary
    (the data's) no larger than the model's."""
    prefix, _, path = source.partition(":")
    if prefix != "hf" or not path:
        raise ConfigError(
            f"model.init_from={source!r} is not allowed: write hf:DIR (a local Hugging Face Llama directory)"
        )
    shape = dict(overrides)
    vocab = shape.pop("vocab_size", None)
    model = load_hf(path, dtype=torch.float32, **{k: shape.pop(k) for k in IMPORT_OVERRIDES if k in shape})[0]
    imported = {**model.config.to_dict(), "n_layers": model.n_unique}
    for field, value in sorted(shape.items()):  # a config reused from a from-scratch run may repeat the shape
        if field not in imported or imported[field] != value:
            raise ConfigError(
                f"model.arch_overrides.{field}={value!r} cannot change model.init_from={source}, which has "
                f"{field}={imported.get(field)!r}: its shape comes from config.json "
                f"(only {', '.join(IMPORT_OVERRIDES)} can be overridden)"
            )
    if vocab is not None and vocab > model.config.vocab_size:
        raise ConfigError(
            f"model.vocab_size={vocab} (the data's tokenizer) exceeds the {model.config.vocab_size}-token "
            f"vocabulary of model.init_from={source}: train it on data tokenized with its own tokenizer "
            "(its tokenizer.json)"
        )
    return model.train()


def adopt_imported(model: Transformer, source: str, strategy: str, n_unique: int, plan: tuple[int, ...]) -> Transformer:
    """The imported model under the strategy's initial plan, which must use exactly its unique layers."""
    if n_unique != model.n_unique:
        m = model.n_unique
        raise ConfigError(
            f"depth strategy {strategy!r} starts with {n_unique} unique layers, but model.init_from={source} has {m}: "
            f"with init_from the strategy starts from the imported layers (baseline keeps them; loop needs "
            f"encode+layers+decode={m}; a grow operator needs initial_depth={m} and a larger target_depth)"
        )
    if tuple(plan) != model.plan:
        rank_zero_warn(
            f"model.init_from={source} was saved with plan {list(model.plan)}; "
            f"depth strategy {strategy!r} trains it with plan {list(plan)}"
        )
    model.plan = plan
    return model
