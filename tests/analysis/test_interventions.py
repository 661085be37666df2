"""Interventions are plans: skip, swap, reverse and repeat of contiguous blocks at any start."""

import json

import pytest
import torch

from lightning_iter.analysis import AnalysisOptions, Context, run_analyses
from lightning_iter.analysis.choices import choice_accuracy, greedy_accuracy
from lightning_iter.analysis.datasets import TextExample
from lightning_iter.analysis.inputs import primitive_items
from lightning_iter.analysis.intervention_analysis import Benchmark, lambada_requests, primitive_requests
from lightning_iter.analysis.interventions import block_interventions, intervene
from lightning_iter.data import ByteTokenizer
from lightning_iter.errors import ConfigError
from tests.analysis.builders import silence, small_model

PLAN = (0, 1, 2, 3, 4, 5)


def test_plans_of_each_operation():
    assert intervene(PLAN, "skip", 2, 2) == (0, 1, 4, 5)
    assert intervene(PLAN, "swap", 1, 2) == (0, 3, 4, 1, 2, 5)
    assert intervene(PLAN, "reverse", 2, 4) == (0, 1, 5, 4, 3, 2)
    assert intervene(PLAN, "repeat", 3, 2, extra=2) == (0, 1, 2, 3, 4, 3, 4, 3, 4, 5)
    assert intervene((0, 1, 0, 1), "skip", 1, 2) == (0, 1)  # positions of a looped plan, not unique layers


def test_blocks_that_do_not_fit_are_left_out():
    assert intervene(PLAN, "swap", 3, 2) is None
    assert intervene(PLAN, "skip", 0, 6) is None  # nothing would be left
    assert intervene(PLAN, "reverse", 0, 1) is None  # reversing one layer is the identity
    assert intervene(PLAN, "repeat", 5, 2) is None


def test_grid_has_one_entry_per_start_and_the_plan_is_restored(tokens):
    model = small_model(n_layers=4)
    calls = []
    result = block_interventions(model, tokens, sizes=[1, 2], accuracy=lambda: calls.append(model.plan) or 0.5)
    assert model.plan == (0, 1, 2, 3)
    skip = result["results"]["skip"]
    assert [e is None for e in skip[2]] == [False, False, False, True]
    assert skip[2][1]["plan"] == [0, 3]
    assert result["base"]["accuracy"] == 0.5 and (0, 2, 3) in calls
    with pytest.raises(ConfigError, match="operations"):
        block_interventions(model, tokens, operations=["shuffle"])


def _greedy(model, context: list[int], n: int) -> list[int]:
    """The model's own greedy continuation of `context` (n tokens), decoded one step at a time."""
    ids = list(context)
    for _ in range(n):
        with torch.no_grad():
            ids.append(int(model(torch.tensor([ids]))[0, -1].argmax()))
    return ids[len(context) :]


def test_greedy_accuracy_counts_a_continuation_only_when_every_token_is_the_argmax():
    model = small_model(n_layers=3)
    contexts = [[5, 17, 40, 99], [12, 13, 14, 15, 16], [200, 3]]
    own = [(c, _greedy(model, c, 3)) for c in contexts]
    assert Benchmark("own", own)(model) == 1.0
    wrong_last = [(c, g[:-1] + [(g[-1] + 1) % 256]) for c, g in own]
    assert Benchmark("wrong", wrong_last)(model) == 0.0
    assert Benchmark("mixed", [own[0], wrong_last[1]], batch_size=1)(model) == 0.5


def test_requests_split_lambada_at_the_last_word_and_end_answers_with_eos():
    tokenizer = ByteTokenizer()
    ((context, target),) = lambada_requests(tokenizer, [TextExample("the cat sat on the", "mat", " ")])
    assert tokenizer.decode(context) == "the cat sat on the" and tokenizer.decode(target) == " mat"
    items = primitive_items("assign_math", 2, shots=0)
    for item, (_context, target) in zip(items, primitive_requests(tokenizer, items)):
        assert target[-1] == tokenizer.eos_id
        assert tokenizer.decode(target[:-1]) == " " + item.choices[item.answer]


def test_accuracy_under_interventions_is_measured_on_the_intervened_plan(tokens):
    model = small_model(n_layers=4)
    silence(model, 2)
    contexts = [list(row[:8].tolist()) for row in tokens]
    own = Benchmark("own", [(c, _greedy(model, c, 2)) for c in contexts])
    result = block_interventions(model, tokens, sizes=[1], operations=["skip"], accuracy=lambda: {"own": own(model)})
    skip = result["results"]["skip"][1]
    assert result["base"]["accuracy"] == {"own": 1.0}
    assert skip[2]["accuracy"]["own"] == 1.0  # skipping a layer that adds nothing changes no prediction
    assert min(e["accuracy"]["own"] for e in skip) < 1.0  # skipping a working layer does


def test_the_analysis_without_datasets_says_lambada_was_not_measured(tokens, tmp_path):
    model = small_model(n_layers=3)
    options = AnalysisOptions(progress=False, sizes=[1, 2], intervention_items=2, shots=0)
    summary = run_analyses(Context(model, ByteTokenizer(), tokens, tmp_path, options), ["interventions"])
    result = json.loads((tmp_path / "interventions.json").read_text())
    assert set(result["base"]["accuracy"]) == {"assign_math@0"} and "lambada" in result["not_measured"]
    assert result["index_base"] == 0 and result["scoring"] == "greedy"
    files = summary["analyses"]["interventions"]["files"]
    assert {f"interventions_{op}.png" for op in ("skip", "swap", "reverse", "repeat")} <= set(files)
    choice = AnalysisOptions(progress=False, sizes=[1], operations=["skip"], intervention_items=10, shots=0)
    choice.intervention_scoring = "choice"
    run_analyses(Context(model, ByteTokenizer(), tokens, tmp_path / "c", choice), ["interventions"])
    by_choice = json.loads((tmp_path / "c" / "interventions.json").read_text())["base"]["accuracy"]["assign_math@0"]
    items = primitive_items("assign_math", 10, shots=0)
    assert by_choice == choice_accuracy(model, ByteTokenizer(), items)[3] > 0  # the random model never gets the
    assert Benchmark("greedy", primitive_requests(ByteTokenizer(), items))(model) == 0  # exact value greedily
    choice.intervention_scoring = "sampled"
    with pytest.raises(ConfigError, match="--intervention_scoring='sampled'"):
        run_analyses(Context(model, ByteTokenizer(), tokens, tmp_path / "d", choice), ["interventions"])


def test_greedy_accuracy_per_depth_agrees_with_the_evaluation_scorer_at_the_last_depth():
    model = small_model(n_layers=3)
    contexts = [[5, 17, 40, 99], [12, 13, 14, 15, 16], [200, 3], [7] * 40]  # the last is cut to the window
    own = [(c, _greedy(model, c[-30:], 2)) for c in contexts]
    requests = own[:2] + [(c, g[:-1] + [(g[-1] + 1) % 256]) for c, g in own[2:]]
    by_depth = greedy_accuracy(model, requests, depths=[1, 3], batch_size=3)
    assert by_depth[3] == Benchmark("eval", requests)(model) == 0.5
    zero = greedy_accuracy(model, own, depths=[3], readout=lambda _i, h: torch.zeros(len(h), 259))
    assert zero[3] == 0.0  # the readout is what is scored: constant logits predict token 0 everywhere


def test_early_exit_on_the_primitive_is_scored_as_the_interventions_score_it(tokens, tmp_path):
    """App. B: tuned-lens early exit is a benchmarked intervention, greedy top-1 by default, multiple choice with
    `--intervention_scoring choice`; at the final depth (identity translator) it is the unmodified model's score."""
    model = small_model(n_layers=3)
    items = primitive_items("assign_math", 10, shots=0)
    finals = {}
    for scoring in ("greedy", "choice"):
        options = AnalysisOptions(progress=False, lens_steps=2, lens_tokens_per_step=16, n_items=10, shots=0)
        options.intervention_scoring = scoring
        run_analyses(Context(model, ByteTokenizer(), tokens, tmp_path / scoring, options), ["tuned_lens"])
        result = json.loads((tmp_path / scoring / "tuned_lens.json").read_text())
        assert result["early_exit_scoring"] == scoring and len(result["early_exit_accuracy"]) == 3
        finals[scoring] = result["early_exit_accuracy"][-1]
    assert finals["greedy"] == Benchmark("greedy", primitive_requests(ByteTokenizer(), items))(model) == 0
    assert finals["choice"] == choice_accuracy(model, ByteTokenizer(), items)[3] > 0
