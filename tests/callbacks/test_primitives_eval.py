"""PrimitivesEval logs primitive accuracy to TensorBoard every N steps during fit."""

import pytest
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lightning_iter.callbacks import PrimitivesEval
from lightning_iter.errors import ConfigError
from tests.helpers import small_data, small_lm, trainer


def test_primitives_are_logged_every_n_steps(tmp_path):
    callback = PrimitivesEval(every_n_steps=2, tasks=["assign_basic"], depths=[0], n_items=4, shots=0, batch_size=8)
    logger = TensorBoardLogger(tmp_path, name="tb")
    t = trainer(max_steps=5, logger=logger, callbacks=[callback])
    t.fit(small_lm({"name": "baseline"}, n_layers=2), datamodule=small_data())
    assert [step for step, _ in callback.history] == [2, 4, 5]
    assert all(0.0 <= r["accuracy"]["assign_basic@0"] <= 1.0 for _, r in callback.history)
    events = EventAccumulator(logger.log_dir)
    events.Reload()
    assert {"primitives/assign_basic@0", "primitives/mean"} <= set(events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("primitives/mean")] == [2, 4, 5]


def test_bad_settings_fail_at_construction():
    with pytest.raises(ConfigError, match="every_n_steps=0"):
        PrimitivesEval(every_n_steps=0)
    with pytest.raises(ConfigError, match="--tasks contains 'nope'"):
        PrimitivesEval(tasks=["nope"])


class _Metrics:
    def __init__(self):
        self.logged = {}

    def log_metrics(self, metrics, step):
        self.logged.update(metrics)


@pytest.mark.parametrize(("scoring", "prefix"), [("lm_eval", "primitives"), ("eos", "primitives_eos")])
def test_the_eos_scoring_is_named_in_the_logged_tags(scoring, prefix):
    from types import SimpleNamespace

    from tests.eval.checkpoints import tiny_model

    callback = PrimitivesEval(tasks=["assign_basic"], depths=[0], n_items=2, shots=0, scoring=scoring)
    logger = _Metrics()
    trainer = SimpleNamespace(global_step=3, is_global_zero=True, loggers=[logger], datamodule=None)
    callback.evaluate(trainer, SimpleNamespace(model=tiny_model()))
    assert set(logger.logged) == {f"{prefix}/assign_basic@0", f"{prefix}/mean"}
    assert callback.history[0][1]["scoring"] == scoring
    with pytest.raises(ConfigError, match="PrimitivesEval.scoring='EOS'"):
        PrimitivesEval(scoring="EOS")
