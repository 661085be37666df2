"""Tests of the reasoning-primitive generators (seed 000, App. I.1).

The solver below reads only the prompt text (it shares no code with the generators): copying is
solved the way an induction head would (find the earlier occurrence of the last word, read the word
after it); variable assignment is solved by parsing the bindings and following the chain, counting
variable-to-variable hops.
"""

from __future__ import annotations

import random
import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_iter.data import primitives as P
from lightning_iter.data.primitives import (
    ASSIGN_DEPTHS,
    TASKS,
    Problem,
    few_shot_text,
    generate_problem,
    training_document,
)
from lightning_iter.data.words import load_real_words

COMBOS = [(t, d) for t in TASKS for d in (ASSIGN_DEPTHS if t.startswith("assign_") else (0,))]

# ---------------------------------------------------------------- independent solver

_COPY_RE = re.compile(r"\AFill in the blank:\n ([a-z]+(?: [a-z]+)*) ____ \. ->\Z")
_ASSIGN_FORMS = {
    # kind: (binding regex, query regex)
    "assign_basic": (re.compile(r"\A([a-z])=([a-z]|\d+)\Z"), re.compile(r"\A([a-z])=____\. ->\Z")),
    "assign_math": (re.compile(r"\ALet ([a-z]) = ([a-z]|\d+)\.\Z"), re.compile(r"\AThen ([a-z]) = ____\. ->\Z")),
    "assign_code": (re.compile(r"\A([a-z]) = ([a-z]|\d+)\Z"), re.compile(r"\Aprint\(([a-z])\)  # prints ____\. ->\Z")),
}


def solve(prompt: str) -> tuple[str, str, int, set[str]]:
    """(kind, answer, hops, candidate values shown in the prompt) from the prompt text alone."""
    m = _COPY_RE.match(prompt)
    if m:
        toks = m.group(1).split()
        last = toks[-1]
        first = toks.index(last)
        assert first < len(toks) - 1, "last word must have occurred before"
        # The repeated tail must be a copy of the words just before (and including) `first`.
        seg = len(toks) - len(set(toks))
        assert toks[len(toks) - seg :] == toks[first - seg + 1 : first + 1]
        return "copy", toks[first + 1], 0, set(toks)
    head = "Fill in blank:\n\n"
    assert prompt.startswith(head), prompt
    *lines, qline = prompt[len(head) :].split("\n")
    for kind, (bind_re, query_re) in _ASSIGN_FORMS.items():  # noqa: B007 - `kind` is read after the loop
        q = query_re.match(qline)
        if q and all(bind_re.match(line) for line in lines):
            break
    else:
        raise AssertionError(f"unparsable prompt {prompt!r}")
    bound: dict[str, str] = {}
    for line in lines:
        var, val = bind_re.match(line).groups()  # type: ignore[union-attr]
        assert var not in bound, f"{var} assigned twice"
        bound[var] = val
    cur, hops, seen = q.group(1), 0, set()
    while not bound[cur].isdigit():
        assert cur not in seen, "cycle"
        seen.add(cur)
        cur = bound[cur]
        hops += 1
    numbers = {v for v in bound.values() if v.isdigit()}
    return kind, bound[cur], hops, numbers


def check(p: Problem) -> None:
    kind, answer, hops, shown = solve(p.prompt)
    assert answer == p.answer
    assert hops == p.depth
    if p.task.startswith("assign_"):
        assert kind == p.task
        assert len(p.distractors) == 4
        assert set(p.distractors) | {p.answer} == shown  # every bound number is a choice
    else:
        assert len(p.distractors) == 9
        assert set(p.distractors) | {p.answer} == shown  # the other words of the sequence
    assert len(set(p.distractors)) == len(p.distractors)
    assert p.answer not in p.distractors
    assert p.text() == p.prompt + " " + p.answer
    assert p.prompt.endswith("->") and not p.answer.startswith(" ")


# ---------------------------------------------------------------- correctness


def test_solver_reads_the_paper_examples() -> None:
    copy = "Fill in the blank:\n jic dqy sof uzg ewr oxw osp tkj rvw mnu jic dqy sof uzg ewr ____ . ->"
    assert solve(copy)[1] == "oxw"
    d2 = "Fill in blank:\n\no=2\nk=23\nt=13\na=1\ne=9\nv=k\nc=e\ns=o\ny=t\nr=a\nb=r\nh=c\nf=y\nx=s\ng=v\nh=____. ->"
    assert solve(d2)[1:3] == ("9", 2)
    d1 = "Fill in blank:\n\no=2\nk=23\nt=13\na=1\ne=9\nv=k\nc=e\ns=o\ny=t\nr=a\ny=____. ->"
    assert solve(d1)[1:3] == ("13", 1)


def test_solver_agrees_on_10000_items() -> None:
    rng = random.Random(1234)
    per = -(-10_000 // len(COMBOS))
    n = 0
    for task, depth in COMBOS:
        for _ in range(per):
            p = generate_problem(task, rng, depth)
            assert (p.task, p.depth) == (task, depth)
            check(p)
            n += 1
    assert n >= 10_000


def test_templates_structure() -> None:
    rng = random.Random(7)
    for task, depth in COMBOS:
        p = generate_problem(task, rng, depth)
        if task.startswith("assign_"):
            lines = p.prompt.split("\n")[2:-1]
            assert len(lines) == 5 * (depth + 1)
            assert p.prompt.startswith("Fill in blank:\n\n")
        else:
            toks = p.prompt.split("\n", 1)[1].split()
            assert len(toks) == 10 + 5 + 3  # words, repeat, "____", ".", "->"
            if task == "copy_random":
                assert all(len(w) == 3 and w.isalpha() and w.islower() for w in toks[:15])
            else:
                assert set(toks[:15]) <= set(load_real_words())


def test_copy_segment_positions_and_lengths_are_parameters() -> None:
    rng = random.Random(0)
    starts = set()
    for _ in range(300):
        p = generate_problem("copy_random", rng)
        toks = p.prompt.split("\n", 1)[1].split()[:15]
        starts.add(toks.index(toks[10]))
    assert starts == {0, 1, 2, 3, 4}
    p = P.make_copy_problem("copy_real", rng, seq_len=6, segment_len=2)
    assert len(p.distractors) == 5 and solve(p.prompt)[1] == p.answer


def test_assign_values_and_names() -> None:
    rng = random.Random(5)
    for _ in range(500):
        p = generate_problem("assign_basic", rng, 2)
        vals = [int(x) for x in (p.answer, *p.distractors)]
        assert all(0 <= v <= 99 for v in vals)
        names = [line.split("=")[0] for line in p.prompt.split("\n")[2:-1]]
        assert len(set(names)) == 15 and all(n in string.ascii_lowercase for n in names)


# ---------------------------------------------------------------- few-shot and training text


def _pieces(text: str) -> list[str]:
    return re.split(r"\n\n(?=Fill in)", text)


def _split_solved(piece: str) -> tuple[str, str]:
    prompt, answer = piece.rsplit(" ", 1)
    return prompt, answer


def test_few_shot_text_shape() -> None:
    rng = random.Random(11)
    for task, depth in COMBOS:
        text, query = few_shot_text(task, rng, depth)
        pieces = _pieces(text)
        assert len(pieces) == 6 and pieces[-1] == query.prompt
        for piece in pieces[:-1]:
            prompt, answer = _split_solved(piece)
            kind, solved, hops, _ = solve(prompt)
            assert solved == answer and hops == depth
        check(query)
    text, query = few_shot_text("assign_code", random.Random(0), 1, shots=0)
    assert text == query.prompt


def test_training_documents_cover_tasks_depths_and_shots() -> None:
    rng = random.Random(3)
    kinds, depths, counts = set(), set(), set()
    for _ in range(1500):
        doc = training_document(rng)
        pieces = _pieces(doc)
        counts.add(len(pieces))
        seen = set()
        for piece in pieces:
            prompt, answer = _split_solved(piece)
            kind, solved, hops, _ = solve(prompt)
            assert solved == answer
            seen.add((kind if kind.startswith("assign_") else "copy", hops))
        assert len(seen) == 1  # one task and depth per document
        ((k, h),) = seen
        kinds.add(k)
        depths.add(h)
    assert kinds == {"copy", "assign_basic", "assign_math", "assign_code"}
    assert depths == {0, 1, 2}
    assert counts == {1, 2, 3, 4, 5, 6}


# ---------------------------------------------------------------- determinism


def test_determinism() -> None:
    for task, depth in COMBOS:
        a = generate_problem(task, random.Random(42), depth)
        b = generate_problem(task, random.Random(42), depth)
        c = generate_problem(task, random.Random(43), depth)
        assert a == b and a.text() != c.text()
    assert few_shot_text("copy_real", random.Random(1)) == few_shot_text("copy_real", random.Random(1))
    assert training_document(random.Random(9)) == training_document(random.Random(9))
    assert training_document(random.Random(9)) != training_document(random.Random(10))


# ---------------------------------------------------------------- property tests over seeds


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**63), combo=st.sampled_from(COMBOS))
def test_property_any_seed_valid_and_reproducible(seed: int, combo: tuple[str, int]) -> None:
    task, depth = combo
    p = generate_problem(task, random.Random(seed), depth)
    check(p)
    assert generate_problem(task, random.Random(seed), depth) == p


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**63))
def test_property_training_document_all_solved(seed: int) -> None:
    doc = training_document(random.Random(seed))
    assert doc == training_document(random.Random(seed))
    assert doc.startswith("Fill in") and not doc.endswith("->")
    for piece in _pieces(doc):
        prompt, answer = _split_solved(piece)
        assert solve(prompt)[1] == answer


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**63), combo=st.sampled_from(COMBOS), shots=st.integers(0, 5))
def test_property_few_shot(seed: int, combo: tuple[str, int], shots: int) -> None:
    task, depth = combo
    text, query = few_shot_text(task, random.Random(seed), depth, shots)
    assert (text, query) == few_shot_text(task, random.Random(seed), depth, shots)
    assert len(_pieces(text)) == shots + 1 and text.endswith(query.prompt)
    check(query)


# ---------------------------------------------------------------- words


def test_real_words_list() -> None:
    words = load_real_words()
    assert len(words) >= 2500
    assert len(set(words)) == len(words)
    assert all(len(w) >= 3 and w.isascii() and w.isalpha() and w.islower() for w in words)
    assert load_real_words() is words  # cached
    assert {"water", "house", "friend", "mountain"} <= set(words)


# ---------------------------------------------------------------- errors


def test_bad_task() -> None:
    with pytest.raises(ValueError, match=r"task='nope'.*allowed values.*copy_random"):
        generate_problem("nope", random.Random(0))
    with pytest.raises(ValueError, match=r"task='assign'"):
        few_shot_text("assign", random.Random(0))


@pytest.mark.parametrize(
    ("task", "depth"),
    [("assign_basic", 3), ("assign_math", -1), ("copy_real", 1), ("assign_code", True), ("assign_basic", 1.0)],
)
def test_bad_depth(task: str, depth: object) -> None:
    with pytest.raises(ValueError, match=r"depth=.*allowed values"):
        generate_problem(task, random.Random(0), depth)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"depth="):
        few_shot_text(task, random.Random(0), depth)  # type: ignore[arg-type]


def test_bad_shots() -> None:
    with pytest.raises(ValueError, match=r"shots=-1"):
        few_shot_text("copy_random", random.Random(0), shots=-1)


def test_problem_rejects_answer_among_distractors() -> None:
    with pytest.raises(ValueError):
        Problem("assign_basic", 0, "x ->", "1", ("1", "2"))
