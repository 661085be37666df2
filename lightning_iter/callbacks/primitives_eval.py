"""Reasoning-primitive accuracy every N training steps, logged as TensorBoard scalars (`primitives/<task>@<depth>`).

`scoring: eos` (choice + EOS instead of lm-eval's scoring) logs under `primitives_eos/` so the curves name it.

trainer:
  callbacks:
    - class_path: lightning_iter.callbacks.PrimitivesEval
      init_args: {every_n_steps: 100, n_items: 50, tasks: [assign_basic, copy_random]}
"""

from __future__ import annotations

from typing import Any

import lightning as L

from ..errors import check_choice, check_int


class PrimitivesEval(L.Callback):
    """Runs `eval.primitives.evaluate_primitives` on the training model every `every_n_steps` optimizer steps.

    Only global rank 0 evaluates and logs (the test set is fixed, so other ranks would repeat it);
    results are also kept in `history` as `(step, result)`. The tokenizer is the data module's.
    `scoring` is one of `eval.primitives.SCORING`; `primitives/mean` is the seeds' depth-0 Mean.
    """

    def __init__(
        self,
        every_n_steps: int = 500,
        tasks: list[str] | None = None,
        depths: list[int] | None = None,
        n_items: int = 100,
        shots: int = 5,
        batch_size: int = 32,
        seed: int = 0,
        at_end: bool = True,
        scoring: str = "lm_eval",
    ) -> None:
        check_int("PrimitivesEval.every_n_steps", every_n_steps, 1)
        from ..eval.primitives import SCORING, task_keys

        task_keys(tasks, depths)  # fail at start-up, not after the first N steps
        check_choice("PrimitivesEval.scoring", scoring, SCORING)
        self.prefix = "primitives" if scoring == "lm_eval" else f"primitives_{scoring}"
        self.every_n_steps, self.at_end = every_n_steps, at_end
        self.options = {
            "tasks": tasks,
            "depths": depths,
            "n_items": n_items,
            "shots": shots,
            "batch_size": batch_size,
            "seed": seed,
            "scoring": scoring,
        }
        self.history: list[tuple[int, dict[str, Any]]] = []

    def _tokenizer(self, trainer: L.Trainer) -> Any:
        tokenizer = getattr(getattr(trainer, "datamodule", None), "tokenizer", None)
        if tokenizer is None:
            from ..data.tokenizer import ByteTokenizer

            tokenizer = ByteTokenizer()
        return tokenizer

    def evaluate(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        step = trainer.global_step
        if not trainer.is_global_zero or (self.history and self.history[-1][0] == step):
            return
        from ..eval.primitives import evaluate_primitives

        result = evaluate_primitives(pl_module.model, self._tokenizer(trainer), progress=False, **self.options)
        self.history.append((step, result))
        metrics = {f"{self.prefix}/{k}": v for k, v in result["accuracy"].items()}
        metrics[f"{self.prefix}/mean"] = result["mean"]
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        from .depth_schedule import reject_sharded

        if stage == "fit":  # it runs only while training
            reject_sharded(trainer, "PrimitivesEval", "or run `lightning_iter eval` on a checkpoint afterwards")

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if trainer.global_step > 0 and trainer.global_step % self.every_n_steps == 0:
            self.evaluate(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.at_end:
            self.evaluate(trainer, pl_module)
