"""Multiple-choice primitives benchmark: items are right, scoring picks the likeliest choice, test sets are held out."""

from __future__ import annotations

import random
import re

import pytest
import torch

from lightning_iter.data.primitive_corpus import packed_sequence
from lightning_iter.data.primitives import ASSIGN_DEPTHS, TASKS, allowed_depths
from lightning_iter.data.tokenizer import ByteTokenizer
from lightning_iter.errors import ConfigError
from lightning_iter.eval.primitives import (
    chance,
    evaluate_primitives,
    make_example,
    score_examples,
    task_keys,
    test_set,
)
from lightning_iter.model import ModelConfig, Transformer
from tests.eval.rigged import rigged_for

COMBOS = [(t, d) for t in TASKS for d in allowed_depths(t)]

_BIND = re.compile(r"^(?:Let )?([a-z]) ?= ?([a-z]|\d+)\.?$")
_QUERY = re.compile(r"(?:^([a-z])=____|Then ([a-z]) = ____|print\(([a-z])\))")


def solve(prompt: str) -> tuple[str, int]:
    """Answer and hop count of the query (the last problem of the prompt), read from the text alone."""
    last = prompt.rsplit("Fill in", 1)[1]
    if last.startswith(" the blank:"):  # copying: find the earlier occurrence of the last word, read the next one
        words = last.split("\n", 1)[1].split()[:-3]  # drop "____ . ->"
        return words[words.index(words[-1]) + 1], 0
    lines = last.split("\n")[2:]
    bound = {}
    for line in lines[:-1]:
        var, val = _BIND.match(line).groups()
        assert var not in bound
        bound[var] = val
    var = next(g for g in _QUERY.search(lines[-1]).groups() if g)
    hops = 0
    while not bound[var].isdigit():
        var, hops = bound[var], hops + 1
    return bound[var], hops


def test_items_are_solved_by_an_independent_solver_10000():
    n = 0
    per = -(-10_000 // len(COMBOS))
    for task, depth in COMBOS:
        for i in range(per):
            e = make_example(task, depth, shots=0, seed=7, index=i)
            answer, hops = solve(e.prompt)
            assert e.choices[e.answer] == answer
            assert hops == depth
            assert len(set(e.choices)) == len(e.choices) == (10 if task.startswith("copy") else 5)
            assert sum(c == answer for c in e.choices) == 1
            # plausible: the choices are exactly the values (numbers) or words the prompt shows
            shown = (
                re.findall(r"\b\d+\b", e.prompt) if task.startswith("assign") else e.prompt.split("\n")[1].split()[:-3]
            )
            assert set(e.choices) == set(shown)
            n += 1
    assert n >= 10_000


def test_choice_positions_are_balanced():
    answers = [make_example("assign_basic", 1, 0, 0, i).answer for i in range(500)]
    counts = [answers.count(k) for k in range(5)]
    assert min(counts) > 60  # roughly uniform over the 5 positions: no positional shortcut


def test_make_example_is_deterministic_and_few_shot():
    a = make_example("assign_math", 2, shots=3, seed=1, index=4)
    assert a == make_example("assign_math", 2, shots=3, seed=1, index=4)
    assert a != make_example("assign_math", 2, shots=3, seed=2, index=4)
    assert a.prompt.count("Fill in blank:") == 4 and a.prompt.endswith("->")
    solved = a.prompt.split("\n\nFill in blank:")[0]
    assert re.search(r"-> \d+$", solved)
    # the query does not depend on the number of shots (the ICL sweep varies only the shots)
    assert make_example("assign_math", 2, shots=0, seed=1, index=4).query == a.query
    assert test_set("copy_real", 0, n_items=3, shots=1) == [make_example("copy_real", 0, 1, 0, i) for i in range(3)]


def test_bad_arguments_name_the_field():
    with pytest.raises(ConfigError, match="depth=1 is not valid for task 'copy_random'"):
        make_example("copy_random", 1)
    with pytest.raises(ConfigError, match="task='nope'"):
        make_example("nope")
    with pytest.raises(ConfigError, match="--depths contains 3"):
        task_keys(None, [3])
    with pytest.raises(ConfigError, match="n_items=0"):
        test_set("assign_code", 0, n_items=0)
    assert task_keys(["copy_random", "assign_code"], [2]) == [("copy_random", 0), ("assign_code", 2)]
    assert len(task_keys()) == 2 + 3 * len(ASSIGN_DEPTHS)
    assert chance("copy_random") == pytest.approx(0.1) and chance("assign_code") == pytest.approx(0.2)


def has_prefix_choice(example) -> bool:
    """Whether a choice is a prefix of another: under `lm_eval` scoring the shorter one can never lose to it."""
    return any(a != b and b.startswith(a) for a in example.choices for b in example.choices)


@pytest.mark.parametrize("scoring", ["lm_eval", "eos"])
@pytest.mark.parametrize("batch_size", [1, 7])
def test_scoring_picks_the_choice_a_rigged_model_prefers(batch_size, scoring):
    examples = [make_example(t, d, shots=1, seed=3, index=i) for t, d in COMBOS for i in range(4)]
    if scoring == "lm_eval":
        examples = [e for e in examples if not has_prefix_choice(e)]
    assert len(examples) >= 2 * len(COMBOS)
    right = rigged_for(examples, lambda e: e.target)
    predicted, cut = score_examples(right, ByteTokenizer(), examples, batch_size=batch_size, scoring=scoring)
    assert predicted == [e.answer for e in examples] and not any(cut)
    wrong = rigged_for(examples, lambda e: e.choices[(e.answer + 1) % len(e.choices)])
    predicted, _ = score_examples(wrong, ByteTokenizer(), examples, batch_size=batch_size, scoring=scoring)
    assert predicted == [(e.answer + 1) % len(e.choices) for e in examples]


def test_evaluate_primitives_reports_accuracy_and_chance():
    examples = [e for d in (0, 1) for e in test_set("assign_basic", d, n_items=6, shots=0)]
    examples += test_set("copy_random", 0, n_items=6, shots=0)
    # right on assign_basic at depth 0, wrong at depth 1 and on copying (the rig prefers choice + EOS)
    model = rigged_for(
        examples, lambda e: e.target if (e.task, e.depth) == ("assign_basic", 0) else e.choices[e.answer - 1]
    )
    options = dict(tasks=["assign_basic", "copy_random"], depths=[0, 1], n_items=6, shots=0, batch_size=8)
    result = evaluate_primitives(model, ByteTokenizer(), progress=False, scoring="eos", **options)
    assert result["accuracy"] == {"assign_basic@0": 1.0, "assign_basic@1": 0.0, "copy_random@0": 0.0}
    # the seeds' columns are the tasks at depth 0, and the mean averages those columns (seed 004 Table 6)
    assert result["per_task"] == {"assign_basic": 1.0, "copy_random": 0.0}
    assert result["mean"] == 0.5 and result["mean_of"] == ["copy_random@0", "assign_basic@0"]
    assert result["n_items"] == 6 and result["scoring"] == "eos" and result["aggregate"] == "depth0"
    assert result["predictions"]["assign_basic@0"] == [e.answer for e in examples[:6]]
    assert set(result["truncated"].values()) == {0.0}
    assert result["chance"]["assign_basic@1"] == pytest.approx(0.2)
    assert result["chance"]["copy_random@0"] == pytest.approx(0.1)
    # the project's earlier number (each task averaging its depths) stays as a named option
    old = evaluate_primitives(model, ByteTokenizer(), progress=False, scoring="eos", aggregate="all_depths", **options)
    assert old["per_task"] == {"assign_basic": 0.5, "copy_random": 0.0} and old["mean"] == 0.25
    assert old["aggregate"] == "all_depths" and old["accuracy"] == result["accuracy"]
    # without any depth-0 result the mean falls back to the cells evaluated, and says so
    deep = evaluate_primitives(model, ByteTokenizer(), progress=False, scoring="eos", **{**options, "depths": [1]})
    deep_only = evaluate_primitives(
        model, ByteTokenizer(), ["assign_basic"], [1], n_items=6, shots=0, progress=False, scoring="eos"
    )
    assert deep["mean_of"] == ["copy_random@0"] and deep_only["mean_of"] == ["assign_basic@1"]
    with pytest.raises(ConfigError, match="aggregate='depth'"):
        evaluate_primitives(model, ByteTokenizer(), aggregate="depth", **options)
    with pytest.raises(ConfigError, match="scoring='EOS'"):
        evaluate_primitives(model, ByteTokenizer(), scoring="EOS", **options)


def test_untrained_model_is_near_chance_and_batching_does_not_change_scores():
    torch.manual_seed(0)
    config = ModelConfig.from_name("tiny", d_model=32, n_heads=2, n_kv_heads=1, ffn_dim=64, n_layers=2, max_seq_len=128)
    model = Transformer(config).eval()
    examples = test_set("assign_code", 0, n_items=12, shots=1)
    a, cut = score_examples(model, ByteTokenizer(), examples, batch_size=1)
    b, _ = score_examples(model, ByteTokenizer(), examples, batch_size=16)
    assert a == b
    assert all(cut)  # a 1-shot prompt is longer than the 128-token window: cut from the left


def test_test_sets_are_disjoint_from_the_training_stream():
    tok = ByteTokenizer()
    training = "".join(tok.decode(packed_sequence(i, 4096, 0, "train", tok).tolist()) for i in range(1000))
    queries = {e.query.prompt for t, d in COMBOS for e in test_set(t, d, n_items=200, shots=0)}
    assert len(queries) == 200 * len(COMBOS)
    assert not [q for q in queries if q in training]
    # the check can fail: prompts of the training stream are found in it
    own = random.Random("train:0:5")
    from lightning_iter.data.primitives import training_document

    first_doc = training_document(own)
    assert first_doc.split(" ->")[0] in training


def test_end_of_text_keeps_prefix_choices_from_winning():
    """Without the EOS terminator (the default, lm-eval's scoring) a choice that is a prefix of the right one
    ("6" vs "62") always ties or wins; `scoring="eos"` is the named option that scores the EOS too."""
    examples = [
        e
        for e in test_set("assign_basic", 0, n_items=200, shots=0)
        if any(c != e.target and e.target.startswith(c) for c in e.choices)
    ][:5]
    assert examples
    model = rigged_for(examples, lambda e: e.target)
    assert score_examples(model, ByteTokenizer(), examples, scoring="eos")[0] == [e.answer for e in examples]
    loose = score_examples(model, ByteTokenizer(), examples)[0]
    assert loose == score_examples(model, ByteTokenizer(), examples, scoring="lm_eval")[0]
    assert all(e.target.startswith(e.choices[p]) and p != e.answer for e, p in zip(examples, loose))
