"""`eval/paper_report.py`: the seeds' Table 1/3 layout and Fig. 4 from fixture result files of three checkpoints."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightning_iter import checkpoint
from lightning_iter.data import ByteTokenizer
from lightning_iter.errors import ConfigError
from lightning_iter.eval import paper_report
from lightning_iter.eval.suite import CATEGORIES
from lightning_iter.model.flops import inference_flops_per_token, training_flops_per_token
from tests.eval.checkpoints import tiny_model

DATA = {"class_path": "lightning_iter.data.PrimitivesDataModule", "init_args": {"seq_len": 16, "batch_size": 2}}
GROW = {"name": "lidas", "block_size": 2, "initial_depth": 2, "target_depth": 4, "horizon": 6}


def write_ckpt(path, n_layers, plan=None, depth=None, steps=10):
    model = tiny_model(n_layers, plan)
    return checkpoint.write_checkpoint(
        path, model, depth=depth, tokenizer=ByteTokenizer(), data=DATA, global_step=steps
    )


def eval_json(path, ckpt, label, acc, nll, plan):
    accuracy = {
        f"{t}@0": a for t, a in zip(("copy_random", "copy_real", "assign_basic", "assign_code", "assign_math"), acc)
    }
    accuracy["assign_basic@1"] = 0.99  # depth 1 is not a column of the seeds' tables
    path.write_text(
        json.dumps(
            {
                "label": label,
                "ckpt_path": str(ckpt),
                "repeat": None,
                "plan": plan,
                "heldout": {"loss": nll},
                "primitives": {"accuracy": accuracy, "scoring": "lm_eval"},
            }
        )
    )
    return path


def lm_eval_json(path, ckpt, base):
    results = {}
    for n, category in enumerate(CATEGORIES[:-1]):
        key = f"{category.metric},none"
        values = [base + 0.01 * (n + i) for i in range(len(category.tasks))]
        for task, value in zip(category.tasks, values):
            results[task] = {key: value}
        results[category.group] = {key: sum(values) / len(values)}
    path.write_text(json.dumps({"results": results, "config": {"model_args": f"ckpt_path={ckpt},max_gen_toks=8"}}))
    return path


@pytest.fixture()
def three(tmp_path):
    base = write_ckpt(tmp_path / "base.ckpt", 4)
    grown = write_ckpt(tmp_path / "grown.ckpt", 4, depth=GROW)
    loop = write_ckpt(tmp_path / "loop.ckpt", 2, plan=(0, 1, 0, 1), depth={"name": "loop", "layers": 2, "repeats": 2})
    files = [
        eval_json(tmp_path / "e1.json", base, "Baseline", [0.1, 0.2, 0.3, 0.4, 0.5], 2.0, [0, 1, 2, 3]),
        eval_json(tmp_path / "e2.json", grown, "LIDAS", [0.2, 0.3, 0.4, 0.5, 0.6], 1.9, [0, 1, 2, 3]),
        eval_json(tmp_path / "e3.json", loop, "Loop (2×2)", [0.3, 0.3, 0.3, 0.3, 0.3], 2.1, [0, 1, 0, 1]),
        lm_eval_json(tmp_path / "l1.json", base, 0.10),
        lm_eval_json(tmp_path / "l2.json", grown, 0.20),
    ]
    return files, (base, grown, loop)


def test_table_one_layout_from_three_checkpoints(three, tmp_path):
    files, _ = three
    done = paper_report.build_report(files, tmp_path / "out")
    lines = done["table"].splitlines()
    assert lines[0] == (
        "| Model | Layers (unique / effective) | Holdout NLL ↓ | " + " | ".join(c.title for c in CATEGORIES) + " |"
    )
    base, grown, loop = (line.split(" | ") for line in lines[2:])
    assert base[:3] == ["| Baseline", "4 / 4", "2.000"] and loop[:3] == ["| Loop (2×2)", "2 / 4", "2.100"]
    # Reasoning Primitives = the five depth-0 columns' mean (0.3), never the depth-1 result
    assert base[-1] == "30.00 |" and grown[-1] == "40.00 |"
    # open-book Q&A mean of the fixture tasks: 0.10 + 0.01 * mean(0..4) = 0.12 (a category = the mean of its tasks)
    assert base[3] == "12.00"
    assert loop[3] == "–" and len(loop) == len(base)  # no suite results: an empty cell, no column dropped
    written = done["written"]
    assert written["figure"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads(written["json"].read_text())
    assert [r["family"] for r in report["rows"]] == ["standard", "grown", "looped"]
    assert "**Math Word Problems (Acc ↑)**" in written["markdown"].read_text()


def test_flops_and_parameters_come_from_the_checkpoint(three):
    _, (base, grown, loop) = three
    config = tiny_model(4).config
    facts = {n: paper_report.checkpoint_facts(p) for n, p in zip(("base", "grown", "loop"), (base, grown, loop))}
    tokens = 2 * 16  # batch_size × seq_len of DATA
    assert facts["base"].training_flops == pytest.approx(10 * tokens * training_flops_per_token(config, 4, 16))
    # LIDAS 2 -> 4 over horizon 6 under PROP-1: 2 steps at depth 2, then depth 4 (steps 2..9)
    grown_flops = tokens * (2 * training_flops_per_token(config, 2, 16) + 8 * training_flops_per_token(config, 4, 16))
    assert facts["grown"].training_flops == pytest.approx(grown_flops)
    assert facts["loop"].inference_flops == facts["base"].inference_flops == inference_flops_per_token(config, 4, 64)
    assert facts["loop"].unique_params == tiny_model(2).num_parameters() < facts["base"].unique_params


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=8))
def test_pareto_front_is_exactly_the_undominated_points(points):
    front = set(paper_report.pareto_front(points))
    for i, (x, y) in enumerate(points):
        beaten = any(x2 <= x and y2 >= y and (x2, y2) != (x, y) for x2, y2 in points)
        assert (i in front) == (not beaten)


def test_equal_accuracies_with_float32_noise_tie_on_the_pareto_front(three):
    """`eval` stores float32 accuracies: two rows at 20.00 % must tie, so the cheaper one alone is on the front."""
    _, (base, grown, _) = three
    facts = [paper_report.checkpoint_facts(base), paper_report.checkpoint_facts(grown)]
    columns = [
        [0.20000000298023224, 0.10000000149011612, 0.0, 0.30000001192092896, 0.4000000059604645],
        [0.20000000298023224, 0.10000000149011612, 0.0, 0.20000000298023224, 0.5],
    ]
    rows = [
        paper_report.Row(label, str(ckpt), None, fact, categories={"reasoning_primitives": sum(c) / len(c)})
        for label, ckpt, fact, c in zip(("base", "grown"), (base, grown), facts, columns)
    ]
    assert rows[0].categories["reasoning_primitives"] != rows[1].categories["reasoning_primitives"]  # the noise
    points = paper_report.panel_points(rows, "training_flops", "reasoning_primitives")
    assert points[0][1] == points[1][1] == 20.0
    assert facts[1].training_flops < facts[0].training_flops
    assert paper_report.pareto_front(points) == [1]  # the grown model: as accurate, cheaper to train


def test_a_checkpoint_named_relatively_and_absolutely_is_one_row(three, tmp_path, monkeypatch):
    files, (base, *_) = three
    monkeypatch.chdir(tmp_path)
    data = json.loads(files[0].read_text())
    data["ckpt_path"] = base.name  # `eval --ckpt_path base.ckpt` run here; lm-eval got the absolute path
    files[0].write_text(json.dumps(data))
    rows = paper_report.read_rows([files[0], files[3]])
    assert len(rows) == 1 and rows[0].nll == 2.0 and "open_book_qa" in rows[0].categories


def test_eval_results_of_some_primitive_tasks_are_no_reasoning_primitives_column(three, tmp_path):
    """`eval --tasks copy_random,assign_basic` is two of the five depth-0 tasks: its mean is not the category."""
    files, _ = three
    data = json.loads(files[2].read_text())
    data["primitives"]["accuracy"] = {"copy_random@0": 0.5, "assign_basic@0": 0.7}
    files[2].write_text(json.dumps(data))
    harness = json.loads(files[3].read_text())
    harness["results"]["reasoning_primitives"] = {"acc,none": 0.25}
    files[3].write_text(json.dumps(harness))
    data = json.loads(files[0].read_text())
    del data["primitives"]["accuracy"]["copy_real@0"]  # the suite's five-task group fills the column instead
    files[0].write_text(json.dumps(data))
    rows = paper_report.read_rows(files)
    assert "reasoning_primitives" not in rows[2].categories
    assert rows[2].tasks == {"primitives_copy_random_d0": 0.5, "primitives_assign_basic_d0": 0.7}
    assert rows[0].categories["reasoning_primitives"] == 0.25
    assert rows[1].categories["reasoning_primitives"] == pytest.approx(0.4)


def test_bad_inputs_are_one_line_errors(three, tmp_path):
    files, (base, *_) = three
    with pytest.raises(ConfigError, match=r"report input .*nope.json does not exist"):
        paper_report.read_rows([tmp_path / "nope.json"])
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(ConfigError, match=r"bad.json is not a readable JSON file"):
        paper_report.read_rows([bad])
    bad.write_text(json.dumps({"something": 1}))
    with pytest.raises(ConfigError, match=r"bad.json is neither a `lightning_iter eval` results.json"):
        paper_report.read_rows([bad])
    bad.write_text(json.dumps({"results": {}, "config": {"model_args": "pretrained=gpt2"}}))
    with pytest.raises(ConfigError, match=r"model_args=.*has no ckpt_path"):
        paper_report.read_rows([bad])
    gone = eval_json(tmp_path / "gone.json", tmp_path / "gone.ckpt", "x", [0.1] * 5, 1.0, [0])
    with pytest.raises(ConfigError, match=r"gone.json: ckpt_path=.*gone.ckpt does not exist"):
        paper_report.read_rows([gone])
    with pytest.raises(ConfigError, match=r"--labels has 1 label\(s\) for 3 model\(s\)"):
        paper_report.read_rows(files, ["one"])
    with pytest.raises(ConfigError, match=r"--category='nope' is not allowed"):
        paper_report.build_report(files, tmp_path / "o", category="nope")


def test_primitives_source_and_eos_scoring_named_in_the_row(three, tmp_path):
    files, _ = three
    data = json.loads(files[2].read_text())
    data["primitives"]["scoring"] = "eos"
    files[2].write_text(json.dumps(data))
    data = json.loads(files[0].read_text())
    data["primitives"]["scoring"] = "eos"  # replaced by the lm-eval primitives of the same row
    files[0].write_text(json.dumps(data))
    harness = json.loads(files[3].read_text())
    harness["results"]["reasoning_primitives"] = {"acc,none": 0.5}
    files[3].write_text(json.dumps(harness))
    harness = json.loads(files[4].read_text())
    harness["results"]["reasoning_primitives"] = {"acc,none": 0.9}  # eval's lm-eval-scored 0.4 is kept
    files[4].write_text(json.dumps(harness))
    rows = paper_report.read_rows(files)
    assert [r.label for r in rows] == ["Baseline", "LIDAS", "Loop (2×2) [scoring eos]"]
    assert rows[0].categories["reasoning_primitives"] == 0.5
    assert rows[1].categories["reasoning_primitives"] == pytest.approx(0.4)


def test_eval_results_without_a_recorded_scoring_are_not_taken_for_lm_eval(three, tmp_path):
    """Results of `eval` before `scoring` was recorded (EOS by default then) are named, never the papers' protocol."""
    files, _ = three
    data = json.loads(files[2].read_text())
    del data["primitives"]["scoring"]
    files[2].write_text(json.dumps(data))
    rows = paper_report.read_rows(files)
    assert [r.label for r in rows] == ["Baseline", "LIDAS", "Loop (2×2) [scoring unrecorded]"]
