"""TrainingThroughput inside a real `fit`: rates on logging steps only, FLOPs that follow growth, MFU, grad norm;
and the lean DepthSchedule step (metrics on logging steps only, parameter counts cached, counters exact)."""

import lightning as L
import pytest
import torch

from lightning_iter.callbacks import DepthSchedule
from lightning_iter.callbacks.throughput import TrainingThroughput, total_grad_norm
from lightning_iter.errors import ConfigError
from lightning_iter.model import training_flops_per_token
from lightning_iter.model.flops import run_training_flops
from tests.helpers import MemoryLogger, small_data, small_lm, trainer

GROW = {"name": "lidas", "block_size": 1, "initial_depth": 1, "horizon": 6}  # stages [1, 2, 3]: growth at steps 1, 3
TOKENS = 4 * 16  # small_data: batch 4 x seq_len 16


def fit(depth, max_steps, log_every_n_steps, callbacks=(), n_layers=3):
    L.seed_everything(0)
    logger = MemoryLogger()
    lm = small_lm(depth, n_layers=n_layers)
    run = trainer(max_steps=max_steps, log_every_n_steps=log_every_n_steps, logger=logger, callbacks=list(callbacks))
    run.fit(lm, small_data())
    return lm, run, logger


def test_rates_follow_the_depth_of_every_step_of_the_window():
    lm, run, logger = fit(GROW, max_steps=6, log_every_n_steps=2)
    with_rates = {step for step, m in logger.steps.items() if "throughput/tokens_per_sec" in m}
    assert with_rates == {1, 3, 5}  # the logging steps (global step 2, 4, 6), from the first one on (window 1)
    config = lm.model.config
    cost = {d: training_flops_per_token(config, d, 16) for d in (1, 2, 3)}
    # window 1: the interval since the previous logging step; depth 1 at step 0, 2 at steps 1-2, 3 from step 3
    expected = {1: (cost[1] + cost[2]) / 2, 3: (cost[2] + cost[3]) / 2, 5: cost[3]}
    for step, per_token in expected.items():
        m = logger.steps[step]
        assert m["throughput/device_flops_per_sec"] / m["throughput/device_tokens_per_sec"] == pytest.approx(per_token)
        assert m["throughput/tokens_per_sec"] == m["throughput/device_tokens_per_sec"]  # one device
        assert m["throughput/step_time"] == pytest.approx(TOKENS / m["throughput/device_tokens_per_sec"])
        assert m["throughput/step_time"] > 0
        assert "throughput/mfu" not in m  # CPU: no peak FLOP/s


def test_mfu_is_flops_over_the_configured_peak_and_a_configured_callback_is_kept():
    configured = TrainingThroughput(peak_flops=1e9, window=2)
    _, run, logger = fit({"name": "baseline"}, max_steps=6, log_every_n_steps=2, callbacks=[configured])
    assert [c for c in run.callbacks if isinstance(c, TrainingThroughput)] == [configured]
    with_mfu = {step: m for step, m in logger.steps.items() if "throughput/mfu" in m}
    assert set(with_mfu) == {3, 5}  # window 2: two logging intervals are needed first
    for m in with_mfu.values():
        assert m["throughput/mfu"] == pytest.approx(m["throughput/device_flops_per_sec"] / 1e9)


class GradNorms(L.Callback):
    """The total gradient norm each optimizer step saw before clipping, by step."""

    def __init__(self) -> None:
        self.norms: dict[int, float] = {}

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        self.norms[trainer.global_step] = float(total_grad_norm(pl_module.parameters()))


def test_grad_norm_is_logged_before_clipping_on_logging_steps():
    recorder = GradNorms()
    _, _, logger = fit({"name": "baseline"}, max_steps=4, log_every_n_steps=2, callbacks=[recorder])
    logged = {step: m["train/grad_norm"] for step, m in logger.steps.items() if "train/grad_norm" in m}
    assert set(logged) == {1, 3}
    for step, value in logged.items():
        assert value == pytest.approx(recorder.norms[step], rel=1e-6)
    assert max(recorder.norms.values()) > 1.0  # the clipping at 1.0 would have shown in an after-clip norm


def test_total_grad_norm_is_the_norm_of_all_gradients():
    a, b, c = (torch.nn.Parameter(torch.zeros(2)) for _ in range(3))
    a.grad, b.grad = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 4.0])
    assert float(total_grad_norm([a, b, c])) == pytest.approx(5.0)
    assert total_grad_norm([c]) is None


@pytest.mark.parametrize("kwargs", [{"window": 0}, {"peak_flops": -1.0}])
def test_bad_settings_are_rejected(kwargs):
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        TrainingThroughput(**kwargs)


def test_depth_metrics_are_logged_on_logging_steps_only_with_one_parameter_walk(monkeypatch):
    calls = {"log": [], "num_parameters": 0}
    lm = small_lm({"name": "baseline"}, n_layers=3)
    logger = MemoryLogger()
    log_metrics, num_parameters = logger.log_metrics, lm.model.num_parameters

    def counting_log_metrics(metrics, step=None):
        if "depth/effective" in metrics:
            calls["log"].append(step)
        return log_metrics(metrics, step)

    def counting_num_parameters(*args, **kwargs):
        calls["num_parameters"] += 1
        return num_parameters(*args, **kwargs)

    monkeypatch.setattr(logger, "log_metrics", counting_log_metrics)
    monkeypatch.setattr(lm.model, "num_parameters", counting_num_parameters)
    trainer(max_steps=6, log_every_n_steps=3, logger=logger).fit(lm, small_data())
    assert calls == {"log": [2, 5], "num_parameters": 2}  # steps 2 and 5; unique and effective counts, computed once


def test_cumulative_tokens_and_flops_count_every_step_when_logging_is_sparse():
    lm, run, logger = fit(GROW, max_steps=6, log_every_n_steps=4)
    schedule = next(c for c in run.callbacks if isinstance(c, DepthSchedule))
    depth_at = {0: 1, 1: 2, 2: 2}.get
    expected = run_training_flops(lm.model.config, lambda s: depth_at(s, 3), 6, TOKENS, 16)
    assert schedule.tokens == 6 * TOKENS
    assert schedule.training_flops == pytest.approx(expected, rel=1e-12)
    logged = logger.steps[3]  # the one logging step: global step 4
    assert logged["tokens/cumulative"] == 4 * TOKENS
    assert logged["flops/training_cumulative"] == pytest.approx(
        run_training_flops(lm.model.config, lambda s: depth_at(s, 3), 4, TOKENS, 16), rel=1e-12
    )
    assert {"depth/effective", "depth/unique_layers", "depth/unique_params", "depth/effective_params"} <= set(logged)
    assert logged["depth/unique_params"] == lm.model.num_parameters()


@pytest.mark.parametrize(
    ("precision", "peak"), [("bf16-mixed", 989.4e12), ("32-true", 494.7e12), ("transformer-engine", None)]
)
def test_on_cuda_the_peak_comes_from_the_device_name_and_precision(monkeypatch, precision, peak):
    from types import SimpleNamespace

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: "NVIDIA H200")
    monkeypatch.setattr(torch, "get_float32_matmul_precision", lambda: "high")  # tf32 matmuls
    strategy = SimpleNamespace(root_device=torch.device("cuda", 0))
    callback = TrainingThroughput()
    callback.setup(SimpleNamespace(strategy=strategy, precision=precision, world_size=2), None, "fit")
    assert callback._meter.available_flops == peak and callback._meter.world_size == 2
