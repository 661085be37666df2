"""Throughput you can watch during fit: tokens/s, step time, MFU and the gradient norm, on logging steps only.

Lightning's `ThroughputMonitor` synchronises CUDA and reads `flops_per_batch` on every step, and its peak table
misses "NVIDIA H200" (and gives the sparse figures); this callback reuses its windowed calculator
(`lightning.fabric.utilities.throughput.Throughput`) but feeds it only on logging steps, with the FLOPs of our
analytic model (model/flops.py) counted per step at the depth the model had then (growth and loops change it),
over the dense peak of model/hardware.py.
"""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.throughput import Throughput as WindowedThroughput
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_info

from ..errors import ConfigError, check_float, check_int
from ..model import training_flops_per_token
from ..model.hardware import compute_dtype, peak_flops


def is_logging_step(trainer: Any) -> bool:
    """Whether Lightning sends this step's metrics to the logger (every `log_every_n_steps`, and at a stop); True
    for a trainer without a logger connector (a stand-in in unit tests), so nothing is lost there."""
    connector = getattr(trainer, "_logger_connector", None)
    return True if connector is None else bool(connector.should_update_logs)


def log_to_loggers(trainer: Any, metrics: dict[str, float]) -> None:
    """Send a step's scalars straight to the loggers, in one call, at the step number Lightning gives `self.log`
    on this step: `self.log`'s per-key bookkeeping cost ~1.5 ms a key (issue 15 item 4). Rank zero only; nothing
    on a micro-batch that does not step the optimizer (Lightning logs only the stepping one)."""
    loggers = getattr(trainer, "loggers", None)
    if not metrics or not loggers or not trainer.is_global_zero:
        return
    fit_loop = trainer.fit_loop
    if getattr(fit_loop, "_should_accumulate", lambda: False)():
        return
    step = fit_loop.epoch_loop._batches_that_stepped  # what Lightning's `log_metrics` uses during fit
    for logger in loggers:
        logger.log_metrics(metrics, step=step)


def total_grad_norm(parameters: Any) -> torch.Tensor | None:
    """L2 norm of all gradients (sharded DTensor gradients reduced to the full norm), None if there are none."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return None
    norm = torch.nn.utils.get_total_norm(grads)
    full_tensor = getattr(norm, "full_tensor", None)  # a DTensor under FSDP2
    return full_tensor() if full_tensor is not None else norm


class TrainingThroughput(L.Callback):
    """Logs `throughput/{tokens_per_sec, device_tokens_per_sec, step_time, device_flops_per_sec, mfu}` and
    `train/grad_norm` (before clipping) on logging steps; rates cover the last `window` logging intervals.

    Args:
        window: logging intervals a rate is measured over (1: since the previous logging step).
        peak_flops: the device's peak FLOP/s for MFU; default: model/hardware.py's table for the CUDA device and
            the trainer's precision (no MFU on CPU or an unlisted device).
        grad_norm: log the total gradient norm (one reduction over the gradients on logging steps).
    """

    def __init__(self, window: int = 1, peak_flops: float | None = None, grad_norm: bool = True) -> None:
        self.window = check_int("TrainingThroughput.window", window, 1)
        if peak_flops is not None:
            check_float("TrainingThroughput.peak_flops", peak_flops, above=0)
        self.peak_flops = peak_flops
        self.grad_norm = grad_norm
        self._meter: WindowedThroughput | None = None
        self._per_token: tuple[tuple[int, int, int], float] | None = None
        self._reset_counters()

    def _reset_counters(self) -> None:
        self._t0 = time.perf_counter()
        self._paused = 0.0
        self._steps = self._samples = self._tokens = 0
        self._flops = 0.0  # since the last update of the meter, per device
        self._validation_t0 = self._t0

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        peak = self.peak_flops
        device = trainer.strategy.root_device
        if peak is None and device.type == "cuda":
            name = torch.cuda.get_device_name(device)
            tf32 = torch.get_float32_matmul_precision() != "highest"
            try:
                peak = peak_flops(name, compute_dtype(str(trainer.precision), tf32))
            except ConfigError:  # a precision without a tensor-core dtype of the table: rates without MFU
                peak = None
            if peak is None:
                rank_zero_info(
                    f"[lightning_iter] no peak FLOP/s known for {name!r} at precision {trainer.precision}: "
                    "throughput/mfu is not logged (give TrainingThroughput(peak_flops=...))"
                )
        self._meter = WindowedThroughput(
            available_flops=peak, world_size=trainer.world_size, window_size=self.window + 1
        )

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._reset_counters()
        if self._meter is not None:
            self._meter.reset()
            self._meter.update(time=0.0, batches=0, samples=0, lengths=0, flops=0)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._validation_t0 = time.perf_counter()  # on_validation_end subtracts the validation time

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking:  # validating is not training
            self._paused += time.perf_counter() - self._validation_t0

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Any) -> None:
        if self.grad_norm and is_logging_step(trainer):
            norm = total_grad_norm(pl_module.parameters())
            if norm is not None:
                log_to_loggers(trainer, {"train/grad_norm": float(norm)})

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        inputs = batch[0]
        batch_size, seq_len = int(inputs.shape[0]), int(inputs.shape[1])
        self._samples += batch_size
        self._tokens += batch_size * seq_len
        self._flops += batch_size * seq_len * self._flops_per_token(pl_module, seq_len)
        accumulating = getattr(trainer.fit_loop, "_should_accumulate", lambda: False)()
        if accumulating:
            return
        self._steps += 1
        if self._meter is None or not is_logging_step(trainer):
            return
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize()  # once per logging interval: the elapsed time must include the queued work
        elapsed = time.perf_counter() - self._t0 - self._paused
        self._meter.update(
            time=elapsed, batches=self._steps, samples=self._samples, lengths=self._tokens, flops=self._flops
        )
        self._flops = 0.0
        log_to_loggers(trainer, self._metrics(self._meter.compute()))

    def _flops_per_token(self, pl_module: L.LightningModule, seq_len: int) -> float:
        model = pl_module.model  # type: ignore[attr-defined]
        key = (model.depth, seq_len, id(model.config))
        if self._per_token is None or self._per_token[0] != key:
            self._per_token = (key, training_flops_per_token(model.config, model.depth, seq_len))
        return self._per_token[1]

    def _metrics(self, computed: dict[str, float]) -> dict[str, float]:
        """Our names for the meter's values; empty until its window is full."""
        metrics: dict[str, float] = {}
        steps_per_sec = computed.get("device/batches_per_sec")
        if steps_per_sec:
            metrics["throughput/step_time"] = 1.0 / steps_per_sec
        if "device/items_per_sec" in computed:
            world = self._meter.world_size if self._meter is not None else 1
            metrics["throughput/device_tokens_per_sec"] = computed["device/items_per_sec"]
            metrics["throughput/tokens_per_sec"] = computed["device/items_per_sec"] * world
        if "device/flops_per_sec" in computed:
            metrics["throughput/device_flops_per_sec"] = computed["device/flops_per_sec"]
        if "device/mfu" in computed:
            metrics["throughput/mfu"] = computed["device/mfu"]
        return {k: float(v) for k, v in metrics.items()}
