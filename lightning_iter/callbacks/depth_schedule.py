"""DepthSchedule: growth at stage boundaries, the plan of every step, depth/FLOPs logging (DESIGN.md §3).

The only place that mutates a model during `fit`. The depth a model must have is a pure function of
the global step (`strategy.n_unique_at`, `strategy.plan_at`: growth and retrofit alike), so resuming at
any step, mid-stage, across a boundary or across the retrofit switch, continues exactly as the
uninterrupted run; no plan is kept in callback state.
"""

from __future__ import annotations

import gc
from typing import Any

import lightning as L
from lightning.pytorch.strategies import DDPStrategy, ModelParallelStrategy, SingleDeviceStrategy
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from ..errors import ConfigError
from ..model import inference_flops_per_token, training_flops_per_token
from ..model.plan import format_plan
from .throughput import is_logging_step, log_to_loggers


def require_language_model(pl_module: L.LightningModule, owner: str) -> Any:
    """`pl_module` if it is a lightning_iter LanguageModel (has `.model` and `.depth_strategy`), else a TypeError."""
    if not hasattr(pl_module, "depth_strategy") or not hasattr(pl_module, "model"):
        raise TypeError(f"{owner} needs a lightning_iter LanguageModel (with .model and .depth_strategy)")
    return pl_module


def reject_sharded(trainer: L.Trainer, owner: str, instead: str) -> None:
    """A ConfigError at start-up for a callback that runs the model on global rank 0 alone: under FSDP2 no rank
    holds whole weights and a forward on one rank waits forever for the others' all-gathers."""
    if isinstance(trainer.strategy, ModelParallelStrategy):
        raise ConfigError(
            f"trainer.callbacks: {owner} is not supported with trainer.strategy={type(trainer.strategy).__name__} "
            f"(FSDP2): it runs the model on global rank 0 alone, which needs whole (unsharded) weights; remove it "
            f"or train with strategy: ddp ({instead})"
        )


class DepthSchedule(L.Callback):
    """Grows the model at stage boundaries and sets the plan of each step; logs depth, parameters and FLOPs."""

    def __init__(self) -> None:
        self.training_flops = 0.0
        self.tokens = 0
        self._cache_key: tuple[Any, ...] | None = None
        self._cache: dict[str, float] = {}

    @staticmethod
    def _lm(pl_module: L.LightningModule) -> Any:
        return require_language_model(pl_module, "DepthSchedule")

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        lm = self._lm(pl_module)
        strategy = trainer.strategy
        supported = (SingleDeviceStrategy, DDPStrategy, ModelParallelStrategy)
        if lm.depth_strategy.growth_steps() and not isinstance(strategy, supported):
            raise ConfigError(
                f"trainer.strategy={type(strategy).__name__} is not supported with growing depth strategies: "
                "growth runs under single-device, DDP and ModelParallelStrategy (FSDP2) training only "
                "(use strategy: ddp, or ModelParallelStrategy to shard)"
            )
        rank_zero_info(f"[lightning_iter] depth strategy {lm.depth_strategy.describe()}")

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        lm = self._lm(pl_module)
        strategy, step = lm.depth_strategy, trainer.global_step
        if lm.model.n_unique < strategy.n_unique_at(step):
            self._grow(trainer, lm, strategy.n_unique_at(step))
        plan = strategy.plan_at(step)
        if lm.model.plan == plan:
            return
        retrofit = strategy.retrofit
        if retrofit is not None and step >= retrofit.start_step and lm.model.plan == strategy.base_plan_at(step):
            rank_zero_info(
                f"[lightning_iter] step {step}: {retrofit.label()}: plan {format_plan(plan)} "
                f"(effective depth {len(plan)}, {lm.model.n_unique} unique layers)"
            )
        else:  # e.g. a checkpoint resumed under a config whose depth strategy gives another plan
            rank_zero_warn(
                f"[lightning_iter] step {step}: the model's plan {format_plan(lm.model.plan)} is not the depth "
                f"strategy's plan at this step; training continues with {format_plan(plan)} "
                "(was the checkpoint trained with a depth.retrofit stage this config lacks?)"
            )
        lm.model.plan = plan

    def _grow(self, trainer: L.Trainer, lm: Any, target: int) -> None:
        """Grow to `target` unique layers with the growth transaction (the retrofit stage starts after growth ends,
        so the plan is the identity here; a strategy's `apply` decides what a tied plan means)."""
        optimizer = trainer.optimizers[0] if trainer.optimizers else None
        while lm.model.n_unique < target:
            lm.depth_strategy.apply(lm.model, optimizer)
        self._after_growth(trainer, lm)
        rank_zero_info(
            f"[lightning_iter] step {trainer.global_step}: grew to {lm.model.n_unique} layers "
            f"({lm.model.num_parameters():,} parameters); plan {format_plan(lm.model.plan)}"
        )

    @staticmethod
    def _after_growth(trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Re-wrap the model for DDP: it registers gradient hooks only for the parameters it saw (pytorch #12603)."""
        strategy = trainer.strategy
        if isinstance(strategy, DDPStrategy):
            strategy.model = None
            gc.collect()  # the old reducer must go, or its hooks keep firing on the old parameters
            strategy.model = strategy._setup_model(pl_module)
            strategy._register_ddp_hooks()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Count tokens and training FLOPs every step (exact, in Python numbers); log the metrics on logging steps
        only, from values cached per (unique layers, plan, sequence length): no parameter walks per step."""
        lm = self._lm(pl_module)
        inputs = batch[0]
        batch_size, seq_len = inputs.shape[0], inputs.shape[1]
        tokens = batch_size * seq_len * trainer.world_size
        metrics = self._depth_metrics(lm.model, seq_len)
        self.tokens += tokens
        self.training_flops += tokens * metrics["_training_per_token"]
        if not is_logging_step(trainer):
            return
        logged = {k: v for k, v in metrics.items() if not k.startswith("_")}
        logged["flops/training_cumulative"] = self.training_flops
        logged["tokens/cumulative"] = float(self.tokens)
        log_to_loggers(trainer, logged)

    def _depth_metrics(self, model: Any, seq_len: int) -> dict[str, float]:
        """Depth, parameter counts and per-token FLOPs; recomputed only when the layers, plan or length change."""
        key = (id(model), model.n_unique, model.plan, seq_len)
        if self._cache_key != key:
            self._cache_key = key
            self._cache = {
                "depth/effective": float(model.depth),
                "depth/unique_layers": float(model.n_unique),
                "depth/unique_params": float(model.num_parameters()),
                # a looped or repeated layer counts once per pass: what a token pays, not what is stored
                "depth/effective_params": float(model.num_parameters(unique=False)),
                "flops/inference_per_token": inference_flops_per_token(model.config, model.depth, seq_len),
                "_training_per_token": training_flops_per_token(model.config, model.depth, seq_len),
            }
        return self._cache

    def state_dict(self) -> dict[str, Any]:
        return {"training_flops": self.training_flops, "tokens": self.tokens}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.training_flops = float(state_dict["training_flops"])
        self.tokens = int(state_dict["tokens"])
