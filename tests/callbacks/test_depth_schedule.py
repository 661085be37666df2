"""The growth callback inside a real `fit`: boundaries, LR continuity, resume across a boundary, checkpoints."""

import math

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from lightning_iter.errors import CheckpointError
from lightning_iter.lr_schedule import wsd_factor
from lightning_iter.module import LanguageModel
from tests.helpers import MemoryLogger, Recorder, small_data, small_lm, trainer

GROW = {"name": "lidas", "block_size": 1, "initial_depth": 1, "horizon": 6}  # stages [1, 2, 3]: growth at steps 1, 3


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """One 8-step run that saves a checkpoint after every step."""
    root = tmp_path_factory.mktemp("uninterrupted")
    L.seed_everything(0)
    recorder = Recorder()
    ckpt = ModelCheckpoint(dirpath=root, every_n_train_steps=1, save_top_k=-1, filename="{step}")
    run = trainer(max_steps=8, callbacks=[recorder, ckpt], enable_checkpointing=True)
    lm = small_lm(GROW, n_layers=3)
    run.fit(lm, small_data())
    return root, recorder.rows, lm


def test_growth_happens_exactly_at_the_stage_boundaries(uninterrupted):
    _, rows, lm = uninterrupted
    assert [(step, n) for step, n, _, _ in rows] == [(0, 1), (1, 2), (2, 2), (3, 3), (4, 3), (5, 3), (6, 3), (7, 3)]
    assert lm.model.n_unique == 3 and lm.model.plan == (0, 1, 2)
    assert all(math.isfinite(loss) for _, _, loss, _ in rows)


def test_learning_rate_follows_the_global_step_through_growth(uninterrupted):
    _, rows, _ = uninterrupted
    decay = round(0.15 * 8)
    for step, _, _, lr in rows:
        assert lr == pytest.approx(3e-3 * wsd_factor(step, warmup_steps=2, total_steps=8, decay_steps=decay))


@pytest.mark.parametrize("resume_step", [2, 3], ids=["mid-stage", "at-boundary"])
def test_resume_continues_exactly_as_the_uninterrupted_run(uninterrupted, resume_step):
    root, rows, _ = uninterrupted
    L.seed_everything(123)  # a different seed: everything that matters must come from the checkpoint
    recorder = Recorder()
    run = trainer(max_steps=8, callbacks=[recorder])
    run.fit(small_lm(GROW, n_layers=3), small_data(), ckpt_path=str(root / f"step={resume_step}.ckpt"))
    assert [row[:2] for row in recorder.rows] == [row[:2] for row in rows[resume_step:]]
    torch.testing.assert_close(
        [row[2] for row in recorder.rows], [row[2] for row in rows[resume_step:]], rtol=0, atol=0
    )


def test_checkpoint_records_the_plan_and_loads_at_that_depth(uninterrupted):
    root, _, lm = uninterrupted
    checkpoint = torch.load(root / "step=8.ckpt", weights_only=False)
    assert checkpoint["lightning_iter"]["n_unique"] == 3 and checkpoint["lightning_iter"]["plan"] == [0, 1, 2]
    assert checkpoint["lightning_iter"]["depth"]["name"] == "lidas"
    loaded = LanguageModel.load_from_checkpoint(root / "step=8.ckpt")
    assert loaded.model.n_unique == 3
    x = torch.randint(0, 259, (1, 8))
    torch.testing.assert_close(loaded.model(x), lm.model(x))


def test_checkpoint_from_another_model_is_rejected(uninterrupted):
    root, _, _ = uninterrupted
    other = LanguageModel(
        arch="tiny",
        arch_overrides={"d_model": 64, "n_heads": 2, "n_kv_heads": 1, "ffn_dim": 64, "n_layers": 3},
        depth=GROW,
    )
    checkpoint = torch.load(root / "step=4.ckpt", weights_only=False)
    with pytest.raises(
        CheckpointError,
        match=r"checkpoint is from another model: it has model.d_model=32, this run builds model.d_model=64",
    ):
        other.on_load_checkpoint(checkpoint)
    with pytest.raises(CheckpointError, match="not written by lightning_iter"):
        other.on_load_checkpoint({"state_dict": {}})


def test_baseline_and_loop_train_without_growth():
    for depth, unique, effective in (
        ({"name": "baseline"}, 3, 3),
        ({"name": "loop", "layers": 2, "repeats": 2, "encode": 1, "decode": 1}, 4, 6),
    ):
        recorder = Recorder()
        lm = small_lm(depth, n_layers=3)
        trainer(max_steps=3, callbacks=[recorder]).fit(lm, small_data())
        assert {row[1] for row in recorder.rows} == {unique} and lm.model.depth == effective


def test_flops_and_tokens_are_counted_per_effective_depth():
    from lightning_iter.callbacks.depth_schedule import DepthSchedule
    from lightning_iter.model import training_flops_per_token

    lm = small_lm(GROW, n_layers=3)
    run = trainer(max_steps=4)
    run.fit(lm, small_data())
    schedule = next(cb for cb in run.callbacks if isinstance(cb, DepthSchedule))
    depths = [1, 2, 2, 3]
    expected = sum(4 * 16 * training_flops_per_token(lm.model.config, d, 16) for d in depths)
    assert schedule.tokens == 4 * 4 * 16
    assert schedule.training_flops == pytest.approx(expected)


def test_growth_and_resume_with_gradient_accumulation(tmp_path):
    """Growth happens on the first micro-batch of a window; resume restarts the stream at step × accumulation."""
    L.seed_everything(0)
    recorder = Recorder()
    ckpt = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=1, save_top_k=-1, filename="{step}")
    trainer(max_steps=5, accumulate_grad_batches=2, callbacks=[recorder, ckpt], enable_checkpointing=True).fit(
        small_lm(GROW, n_layers=3), small_data()
    )
    assert [n for _, n, _, _ in recorder.rows] == [1, 1, 2, 2, 2, 2, 3, 3, 3, 3]
    resumed = Recorder()
    trainer(max_steps=5, accumulate_grad_batches=2, callbacks=[resumed]).fit(
        small_lm(GROW, n_layers=3), small_data(), ckpt_path=str(tmp_path / "step=2.ckpt")
    )
    assert [row[1] for row in resumed.rows] == [row[1] for row in recorder.rows[4:]]
    torch.testing.assert_close([row[2] for row in resumed.rows], [row[2] for row in recorder.rows[4:]], rtol=0, atol=0)


def test_compiled_layers_stay_compiled_through_growth():
    """Per-layer torch.compile: grown copies are compiled too, and training matches eager."""
    eager, compiled = Recorder(), Recorder()
    L.seed_everything(0)
    trainer(max_steps=5, callbacks=[eager]).fit(small_lm(GROW, n_layers=3), small_data())
    L.seed_everything(0)
    lm = small_lm(GROW, n_layers=3, compile={"backend": "aot_eager"})
    trainer(max_steps=5, callbacks=[compiled]).fit(lm, small_data())
    assert lm.model.n_unique == 3
    assert all(layer._compiled_call_impl is not None for layer in lm.model.layers)
    torch.testing.assert_close([r[2] for r in compiled.rows], [r[2] for r in eager.rows], rtol=1e-5, atol=1e-6)


def test_growth_under_an_unsupported_strategy_is_rejected_at_start():
    from types import SimpleNamespace

    from lightning_iter.callbacks.depth_schedule import DepthSchedule
    from lightning_iter.errors import ConfigError

    class FSDPLike:
        pass

    with pytest.raises(ConfigError, match="trainer.strategy=FSDPLike is not supported with growing depth strategies"):
        DepthSchedule().on_fit_start(SimpleNamespace(strategy=FSDPLike()), small_lm(GROW, n_layers=3))


def test_loop_logs_unique_and_effective_parameters_and_inference_flops():
    from lightning_iter.model import inference_flops_per_token

    lm = small_lm({"name": "loop", "layers": 2, "repeats": 3}, n_layers=2)
    logger = MemoryLogger()
    trainer(max_steps=2, log_every_n_steps=1, logger=logger).fit(lm, small_data())
    logged = logger.steps[1]  # what the logger got on the last step (global step 2)
    per_layer = sum(p.numel() for p in lm.model.layers[0].parameters())
    assert logged["depth/effective_params"] - logged["depth/unique_params"] == pytest.approx(4 * per_layer)
    assert logged["flops/inference_per_token"] == pytest.approx(inference_flops_per_token(lm.model.config, 6, 16))


def _batch_start(lm, step):
    from types import SimpleNamespace

    from lightning_iter.callbacks import DepthSchedule

    DepthSchedule().on_train_batch_start(SimpleNamespace(global_step=step, optimizers=[], strategy=None), lm, None, 0)


def test_a_plan_the_strategy_does_not_explain_is_replaced_with_a_warning():
    """E.g. a retrofitted checkpoint resumed under a config without `depth.retrofit`: the config is the run."""
    lm = small_lm(GROW, n_layers=3)
    lm.model.resize(3, (0, 1, 2, 1, 2))
    with pytest.warns(UserWarning, match=r"plan 0 1 2 1 2 is not the depth strategy's plan.*continues with 0 1 2"):
        _batch_start(lm, 5)
    assert lm.model.plan == (0, 1, 2)


def test_the_retrofit_switch_is_announced_not_warned(recwarn, caplog):
    lm = small_lm({**GROW, "retrofit": {"start_step": 5, "block": [1, 3]}}, n_layers=3)
    lm.model.resize(3, (0, 1, 2))
    with caplog.at_level("INFO"):
        _batch_start(lm, 5)
    assert lm.model.plan == (0, 1, 2, 1, 2)
    assert "step 5: retrofitted recurrence, plan positions 1..2 x2: plan 0 1 2 1 2" in caplog.text
    assert not [w for w in recwarn if "depth strategy's plan" in str(w.message)]


@pytest.mark.parametrize("name", ["DepthAnalysis", "PrimitivesEval"])
def test_rank_zero_model_callbacks_are_rejected_under_fsdp2_at_setup(name):
    """They run the model on rank 0 alone: under FSDP2 that would wait forever for the other ranks' all-gathers."""
    from types import SimpleNamespace

    from lightning.pytorch.strategies import DDPStrategy, ModelParallelStrategy

    import lightning_iter.callbacks as callbacks
    from lightning_iter.distributed_checkpoint import ShardedCheckpointStrategy
    from lightning_iter.errors import ConfigError

    callback = getattr(callbacks, name)()
    lm = small_lm({"name": "baseline"}, n_layers=2)
    for strategy in (ModelParallelStrategy(), ShardedCheckpointStrategy()):
        expected = rf"{name} is not supported with trainer.strategy={type(strategy).__name__} \(FSDP2\)"
        with pytest.raises(ConfigError, match=expected):
            callback.setup(SimpleNamespace(strategy=strategy), lm, "fit")
        callback.setup(SimpleNamespace(strategy=strategy), lm, "validate")  # it runs only in fit: nothing to refuse
    callback.setup(SimpleNamespace(strategy=DDPStrategy()), lm, "fit")  # whole weights on every rank: allowed
