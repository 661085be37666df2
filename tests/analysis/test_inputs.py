"""`DatasetInputs`: the papers' datasets per analysis, recorded in the outputs; a missing file is one line."""

import pytest

from lightning_iter.analysis import AnalysisOptions, Context, run_analyses
from lightning_iter.analysis.inputs import DatasetInputs
from lightning_iter.data import ByteTokenizer
from lightning_iter.errors import ConfigError
from tests.analysis.builders import small_model
from tests.analysis.dataset_files import records, write_all


def test_inputs_record_what_they_read_and_missing_files_name_path_and_flags(tmp_path):
    write_all(tmp_path / "data", n=8)
    inputs = DatasetInputs(ByteTokenizer(), str(tmp_path / "data"), n_examples=3, seq_len=24)
    rows = inputs.rows("depth_score", "gsm8k")
    assert rows.shape == (3, 24) and ByteTokenizer().decode(rows[0].tolist()).startswith("Q0: ")
    assert inputs.used["depth_score"]["gsm8k"]["path"].endswith("gsm8k.parquet")
    assert inputs.examples("interventions", "lambada", 2)[1].prompt == records("lambada")[1]["text"].rsplit(" ", 1)[0]
    missing = DatasetInputs(ByteTokenizer(), None)
    with pytest.raises(ConfigError) as err:
        missing.rows("depth_score", "mquake")
    message = str(err.value)
    assert "\n" not in message and message.startswith("depth_score needs mquake data")
    assert "data/analysis/mquake.json" in message and "--mquake FILE" in message and "--inputs heldout" in message
    given = DatasetInputs(ByteTokenizer(), None, {"lambada": str(tmp_path / "none.jsonl")})
    with pytest.raises(ConfigError, match=r"interventions: --lambada=.*none.jsonl does not exist"):
        given.examples("interventions", "lambada", 2)
    with pytest.raises(ConfigError, match="'gsm8' is not an analysis dataset"):
        DatasetInputs(ByteTokenizer(), None, {"gsm8": "x"})


def test_analyses_read_their_own_datasets_and_say_so(tmp_path):
    data = write_all(tmp_path / "data", n=8)
    inputs = DatasetInputs(ByteTokenizer(), str(data), n_examples=2, seq_len=20)
    options = AnalysisOptions(progress=False, sizes=[1], operations=["skip"], intervention_items=2, shots=0)
    ctx = Context(small_model(n_layers=3), ByteTokenizer(), inputs.rows("x", "gsm8k")[:0], tmp_path, options)
    ctx.datasets = inputs
    summary = run_analyses(ctx, ["depth_score", "contributions"])
    assert set(summary["inputs"]["depth_score"]) == {"gsm8k", "math", "mquake"}
    assert set(summary["inputs"]["contributions"]) == {"gsm8k"}
    by_set = summary["analyses"]["depth_score"]["by_dataset"]
    assert set(by_set) == {"gsm8k", "math", "mquake"} and len(set(by_set.values())) == 3  # different texts
    index = (tmp_path / "index.md").read_text()
    assert "inputs of depth_score: gsm8k `" in index and "mquake.json` (--data, 2 rows)" in index
