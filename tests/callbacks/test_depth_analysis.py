"""DepthAnalysis runs chosen analyses during fit, on the grown model, and logs them to TensorBoard."""

import pytest
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lightning_iter.callbacks import DepthAnalysis
from lightning_iter.callbacks.depth_schedule import DepthSchedule
from lightning_iter.errors import ConfigError
from tests.helpers import small_data, small_lm, trainer


def test_analyses_follow_growth_and_reach_tensorboard(tmp_path):
    callback = DepthAnalysis(
        every_n_steps=2, analyses="depth_score,similarity", n_examples=2, seq_len=12, options={"block_size": 1}
    )
    logger = TensorBoardLogger(tmp_path, name="tb")
    lm = small_lm({"name": "lidas", "block_size": 1, "horizon": 4, "initial_depth": 1}, n_layers=3)
    t = trainer(max_steps=6, logger=logger, callbacks=[DepthSchedule(), callback])
    t.fit(lm, datamodule=small_data())
    assert [step for step, _ in callback.history] == [2, 4, 6]
    depths = [len(summary["plan"]) for _, summary in callback.history]
    assert depths[0] < depths[-1] == 3  # the analysis sees the model as grown at that step
    events = EventAccumulator(logger.log_dir)
    events.Reload()
    assert [e.step for e in events.Scalars("analysis/depth_score")] == [2, 4, 6]
    assert not [tag for tag in events.Tags()["scalars"] if "/depth_0" in tag]  # not one tag per depth
    assert "analysis/per_depth/depth_score_weight" in events.Tags()["images"]  # one figure per metric
    assert [e.step for e in events.Images("analysis/per_depth/depth_score_weight")] == [2, 4, 6]
    assert [step for step, _ in callback.curves["depth score weight"]] == [2, 4, 6]
    assert [len(values) for _, values in callback.curves["depth score weight"]] == depths
    assert "analysis/similarity" in events.Tags()["images"]
    assert (tmp_path / "tb" / "version_0" / "analysis" / "step_6" / "index.md").is_file()


def test_bad_settings_fail_at_construction():
    with pytest.raises(ConfigError, match="every_n_steps=0"):
        DepthAnalysis(every_n_steps=0)
    with pytest.raises(ConfigError, match="--analyses"):
        DepthAnalysis(analyses="depth")
    with pytest.raises(ConfigError, match="options"):
        DepthAnalysis(options={"nope": 1})
