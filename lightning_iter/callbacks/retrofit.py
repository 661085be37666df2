"""RetrofitRecurrence: from a given step on, train with a block of the plan looped `extra` more times.

Retrofitted recurrence (seed 000 §4, Table 2; Koishekenov et al. 2025): during the cooldown a middle
block of a trained model (e.g. layers 8-11 of LIDAS 1.7B) runs one more time per forward. No weights
are added: the plan changes (`model.plan.repeat_block`) and the tied layer's gradients sum over its passes.

Ordering with growth: the block positions refer to the *full-depth* plan, so `start_step` must not
precede the last growth step, and when both fall on the same step growth runs first (this callback
calls `DepthSchedule` itself; its own later call is then a no-op).

Resume: the checkpoint stores the retrofitted plan (`LanguageModel.on_load_checkpoint` rebuilds it
before loading weights) and this callback's state (`base_plan`), so a resumed run neither loses nor
doubles the repetition. A run resumed *into* a retrofit from a checkpoint without this callback's
state (e.g. the pre-cooldown checkpoint) takes the loaded plan as the base plan.
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_info

from ..errors import ConfigError
from ..model.plan import Plan, format_plan, parse_repeat, repeat_block
from .depth_schedule import DepthSchedule, require_language_model


class RetrofitRecurrence(L.Callback):
    """Loop plan positions `block` (`"START:END"`, or block `block_index` of size `block_size`) `extra` more times.

    Args:
        start_step: first global step trained with the repetition (e.g. the cooldown start, 170000).
        block: plan positions `"START:END"` (END exclusive), e.g. `"8:12"` for layers 8-11.
        block_index, block_size: alternatively "block j of size b" of a grown model: positions j·b .. (j+1)·b - 1.
        extra: additional passes of the block (1 = the block runs twice).
    """

    def __init__(
        self,
        start_step: int,
        block: str | None = None,
        block_index: int | None = None,
        block_size: int | None = None,
        extra: int = 1,
    ) -> None:
        if isinstance(start_step, bool) or not isinstance(start_step, int) or start_step < 0:
            raise ConfigError(f"RetrofitRecurrence.start_step={start_step!r} is not allowed: it must be an integer >= 0")
        if isinstance(extra, bool) or not isinstance(extra, int) or extra < 1:
            raise ConfigError(f"RetrofitRecurrence.extra={extra!r} is not allowed: it must be an integer >= 1")
        if (block is None) == (block_index is None):
            raise ConfigError(
                "RetrofitRecurrence needs exactly one of block (e.g. '8:12') or block_index + block_size "
                f"(got block={block!r}, block_index={block_index!r})"
            )
        if block is not None:
            self.start, self.end, _ = parse_repeat(f"{block}x1")
        else:
            if not isinstance(block_size, int) or block_size < 1 or not isinstance(block_index, int) or block_index < 0:
                raise ConfigError(
                    f"RetrofitRecurrence.block_index={block_index!r}, block_size={block_size!r} are not allowed: "
                    "block_index must be an integer >= 0 and block_size an integer >= 1"
                )
            self.start, self.end = block_index * block_size, (block_index + 1) * block_size
        self.start_step = start_step
        self.extra = extra
        self.base_plan: Plan | None = None  # the plan before the repetition, once applied

    def target_plan(self, base: Plan) -> Plan:
        return repeat_block(base, self.start, self.end, self.extra)

    @staticmethod
    def _lm(pl_module: L.LightningModule) -> Any:
        return require_language_model(pl_module, "RetrofitRecurrence")

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        growth = self._lm(pl_module).depth_strategy.growth_steps()
        if growth and self.start_step < max(growth):
            raise ConfigError(
                f"RetrofitRecurrence.start_step={self.start_step} is before the last growth step {max(growth)}: "
                "the block refers to the full-depth plan, so start at or after the end of growth"
            )

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if trainer.global_step < self.start_step:
            return
        lm = self._lm(pl_module)
        if self.base_plan is not None:
            expected = self.target_plan(self.base_plan)
            if lm.model.plan != expected:  # e.g. resumed from a checkpoint whose plan was saved before the switch
                lm.model.plan = expected
            return
        self._grow_first(trainer, lm, batch, batch_idx)
        base = lm.model.plan
        lm.model.plan = self.target_plan(base)
        self.base_plan = base
        rank_zero_info(
            f"[lightning_iter] step {trainer.global_step}: retrofitted recurrence, plan positions "
            f"{self.start}..{self.end - 1} x{self.extra + 1}: plan {format_plan(lm.model.plan)} "
            f"(effective depth {lm.model.depth}, {lm.model.n_unique} unique layers)"
        )

    @staticmethod
    def _grow_first(trainer: L.Trainer, lm: Any, batch: Any, batch_idx: int) -> None:
        """Let DepthSchedule finish a growth due at this step before the plan is repeated (idempotent)."""
        if lm.model.n_unique >= lm.depth_strategy.n_unique_at(trainer.global_step):
            return
        for callback in trainer.callbacks:
            if isinstance(callback, DepthSchedule):
                callback.on_train_batch_start(trainer, lm, batch, batch_idx)
                return

    def state_dict(self) -> dict[str, Any]:
        return {"base_plan": None if self.base_plan is None else list(self.base_plan)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        base = state_dict.get("base_plan")
        self.base_plan = None if base is None else tuple(int(i) for i in base)
