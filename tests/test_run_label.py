"""Figure titles and table rows name the run and step of a checkpoint, not the file `last.ckpt`."""

from lightning_iter.run_label import analysis_label, checkpoint_label


def test_checkpoint_label_names_the_run_and_step():
    assert checkpoint_label("runs/loop-tiny/checkpoints/last.ckpt", 120) == "loop-tiny step 120"  # run_dir.py's
    assert checkpoint_label("/w/runs/smollm-360m/smollm-360m-midas/checkpoints/last.ckpt") == "smollm-360m-midas"
    older = "runs/loop-tiny/tensorboard/version_0/checkpoints/last.ckpt"  # the layout before run directories
    assert checkpoint_label(older, 120) == "loop-tiny/version_0 step 120"
    assert checkpoint_label("/abs/runs/q/checkpoints/epoch=0-step=50.ckpt") == "q step 50"
    assert checkpoint_label("/tmp/x/loop.ckpt") == "loop"
    assert checkpoint_label("/tmp/x/loop.ckpt", 7, "1:3x1") == "loop step 7 --repeat 1:3x1"
    assert checkpoint_label("hf:/models/SmolLM-360M") == "hf:SmolLM-360M"
    assert checkpoint_label("last.ckpt", 3) == "last step 3"


def test_analysis_label_reads_the_context_info():
    assert analysis_label({"source": "training step 40", "global_step": 40}) == "training step 40"
    assert analysis_label({"source": "runs/a/checkpoints/last.ckpt", "global_step": 9}) == "a step 9"
    assert analysis_label({}) == "model"
