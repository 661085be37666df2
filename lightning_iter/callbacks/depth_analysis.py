"""Depth analyses during training: every N steps, write the suite's JSON/PNG and log its numbers to TensorBoard.

trainer:
  callbacks:
    - class_path: lightning_iter.callbacks.DepthAnalysis
      init_args: {every_n_steps: 1000, analyses: "depth_score,contributions,similarity"}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch

from ..errors import ConfigError, check_int


class DepthAnalysis(L.Callback):
    """Runs `analysis.run_analyses` on the training model (global rank 0) on held-out batches of the data module.

    Outputs go to `<log_dir>/analysis/step_<N>/`; scalars (`analysis/depth_score`, ...), one figure per per-depth
    metric (`analysis/per_depth/<metric>`: its curve over depth at every step so far, so a 32-layer model is one
    tag per metric, not 32) and the PNGs go to the TensorBoard logger when there is one.
    """

    def __init__(
        self,
        every_n_steps: int = 1000,
        analyses: str = "depth_score,contributions,similarity",
        n_examples: int = 8,
        seq_len: int = 128,
        at_end: bool = True,
        options: dict[str, Any] | None = None,
    ) -> None:
        from ..analysis import AnalysisOptions, parse_analyses

        check_int("DepthAnalysis.every_n_steps", every_n_steps, 1)
        self.names = parse_analyses(analyses)  # fail at start-up, not after the first N steps
        try:
            self.options = AnalysisOptions(**{"progress": False, **(options or {})})
        except TypeError as err:
            raise ConfigError(f"DepthAnalysis.options={options!r} is not allowed: {err}") from None
        self.every_n_steps, self.n_examples, self.seq_len, self.at_end = every_n_steps, n_examples, seq_len, at_end
        self.history: list[tuple[int, dict[str, Any]]] = []
        self.curves: dict[str, list[tuple[int, list[float | None]]]] = {}  # metric -> (step, per-depth values)

    def _tokens(self, trainer: L.Trainer) -> torch.Tensor:
        rows: list[torch.Tensor] = []
        for batch in trainer.datamodule.val_dataloader():
            inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
            rows.extend(inputs[:, : self.seq_len])
            if len(rows) >= self.n_examples:
                break
        return torch.stack(rows[: self.n_examples])

    def run(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        step = trainer.global_step
        if not trainer.is_global_zero or (self.history and self.history[-1][0] == step):
            return
        from ..analysis import Context, run_analyses
        from ..data.tokenizer import ByteTokenizer

        root = Path(
            trainer.logger.log_dir
            if trainer.logger is not None and trainer.logger.log_dir
            else trainer.default_root_dir
        )
        out = root / "analysis" / f"step_{step}"
        tokenizer = getattr(trainer.datamodule, "tokenizer", None) or ByteTokenizer()
        info = {"source": f"training step {step}", "global_step": step}
        with torch.enable_grad():  # the tuned lens trains its translators (the model stays frozen)
            summary = run_analyses(
                Context(pl_module.model, tokenizer, self._tokens(trainer), out, self.options, info), self.names
            )
        self.history.append((step, summary))
        self._log(trainer, summary, out, step)

    def _log(self, trainer: L.Trainer, summary: dict[str, Any], out: Path, step: int) -> None:
        experiment = getattr(trainer.logger, "experiment", None)
        if experiment is None or not hasattr(experiment, "add_scalar"):
            return
        from ..analysis.io import depth_curves

        for result in summary["analyses"].values():
            for key in ("depth_score", "depth_score_normalized", "mean_off_diagonal", "final_accuracy"):
                if isinstance(result.get(key), float):
                    experiment.add_scalar(f"analysis/{key}", result[key], step)
            for metric, values in result.get("per_depth", {}).items():
                tag = metric.replace(" ", "_").replace("‖", "").replace("/", "_over_")
                self.curves.setdefault(metric, []).append((step, list(values)))
                if hasattr(experiment, "add_figure"):
                    experiment.add_figure(f"analysis/per_depth/{tag}", depth_curves(self.curves[metric], metric), step)
            if hasattr(experiment, "add_image"):
                import matplotlib.image

                for f in result["files"]:
                    if f.endswith(".png"):
                        image = matplotlib.image.imread(out / f)[..., :3]
                        experiment.add_image(f"analysis/{f[:-4]}", image, step, dataformats="HWC")

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        from .depth_schedule import reject_sharded

        if stage == "fit":  # it runs only while training
            reject_sharded(trainer, "DepthAnalysis", "or run `lightning_iter analyze` on a checkpoint afterwards")

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if trainer.global_step % self.every_n_steps == 0 and trainer.global_step > 0:
            self.run(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.at_end:
            self.run(trainer, pl_module)
