"""Reasoning-primitive text generators: copying and variable assignment.

These are the synthetic *Reasoning Primitives* of seed 000, App. I.1 (also seed 004, App. C), which
follow Saunshi et al. 2024, "On the inductive bias of stacking towards improving reasoning". The same
generators serve two uses, so they are pure Python (stdlib ``random`` only) and fully determined by
the ``random.Random`` passed in:

* the training stream of the project's embedded default corpus (:func:`training_document`), and
* a 5-shot multiple-choice benchmark (:func:`few_shot_text` plus :attr:`Problem.distractors`):
  10 choices for copying (chance 10 %), 5 for variable assignment (chance 20 %), as in App. I.1.

Tasks and templates
-------------------
``copy_random`` / ``copy_real`` (induction copying). Sample ``seq_len`` = 10 distinct words (random
3-letter lowercase strings, or real English words from :mod:`lightning_iter.data.words`), pick a
contiguous segment of ``segment_len`` = 5 words that is not at the very end (its start is uniform over
the ``seq_len - segment_len`` positions that leave a following word), append the segment, and ask for
the word that followed the segment in the original order::

    Fill in the blank:
     jic dqy sof uzg ewr oxw osp tkj rvw mnu jic dqy sof uzg ewr ____ . ->      answer: oxw

Distractors are the other 9 words of the sequence (words are distinct, so the answer is unique).
The line of words starts with one space, exactly as in the seed's example.

``assign_basic`` / ``assign_math`` / ``assign_code`` (variable assignment of depth d in {0, 1, 2}).
A problem has d + 1 *layers* of 5 bindings each. Layer 0 binds 5 variables to 5 distinct numbers
drawn from 0..99; each later layer binds 5 new variables to the 5 variables of the layer before
(a random one-to-one map), and the query asks for a variable of the last layer. So the query resolves
through exactly d variable-to-variable hops and one final variable-to-number binding (d + 1 steps),
and, because every variable is bound exactly once and the maps are one-to-one, that chain is unique
and no variable of layer >= 1 is bound to a number: there is no shortcut. Layers appear in order
(layer 0 first), lines within a layer are shuffled, and all 5 (d + 1) variable names are distinct
single lowercase letters. Distractors are the other 4 numbers of layer 0, so exactly one choice is
correct. The seed's examples (App. I.1) fix the *basic* template; the paper gives no text for the
*math* and *code* templates, and neither the seeds nor a search of public sources gave Saunshi et
al.'s exact strings, so we chose the same structure written in math and in Python notation
(depth 1 shown; every template starts with ``Fill in blank:`` and a blank line)::

    basic            math                 code
    o=2              Let o = 2.           o = 2
    k=23             Let k = 23.          k = 23
    t=13             Let t = 13.          t = 13
    a=1              Let a = 1.           a = 1
    e=9              Let e = 9.           e = 9
    v=k              Let v = k.           v = k
    c=e              Let c = e.           c = e
    s=o              Let s = o.           s = o
    y=t              Let y = t.           y = t
    r=a              Let r = a.           r = a
    y=____. ->       Then y = ____. ->    print(y)  # prints ____. ->       answer: 13

About the seed's depth-2 example: its query variable ``h`` appears twice, once as the binding
``h=c`` in the last layer and once in the query line ``h=____``. That is a question, not a second
assignment; here too every variable is bound at most once, so the query line is the only other place
the queried name appears and no reading of the prompt gives a second answer.

Training form and few-shot form
-------------------------------
:meth:`Problem.text` is ``prompt + " " + answer``; problems are joined by one blank line
(``"\\n\\n"``). :func:`few_shot_text` gives ``shots`` solved problems of one task/depth followed by the
unsolved query prompt; :func:`training_document` gives 1 to 6 solved problems of one task/depth
(0..5 shots plus the solved query), so the training text has exactly the shape of the benchmark.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from lightning_iter.data.words import load_real_words
from lightning_iter.errors import check_choice, check_int

__all__ = [
    "ASSIGN_DEPTHS",
    "ASSIGN_TASKS",
    "COPY_TASKS",
    "MAX_SHOTS",
    "Problem",
    "TASKS",
    "allowed_depths",
    "few_shot_text",
    "generate_problem",
    "make_assign_problem",
    "make_copy_problem",
    "training_document",
]

COPY_TASKS: tuple[str, ...] = ("copy_random", "copy_real")
ASSIGN_TASKS: tuple[str, ...] = ("assign_basic", "assign_math", "assign_code")
TASKS: tuple[str, ...] = COPY_TASKS + ASSIGN_TASKS
ASSIGN_DEPTHS: tuple[int, ...] = (0, 1, 2)
MAX_SHOTS = 5
"""Most solved examples before the query: the benchmark is 5-shot (App. I.1)."""

BLANK = "____"
ARROW = "->"
COPY_SEQ_LEN = 10
COPY_SEGMENT_LEN = 5
ASSIGN_WIDTH = 5
ASSIGN_VALUE_RANGE = (0, 99)

_COPY_HEADER = "Fill in the blank:\n"
_ASSIGN_HEADER = "Fill in blank:\n\n"
# (binding "var <- value or var", query line) per template; the query line ends with the marker.
_ASSIGN_TEMPLATES: dict[str, tuple[str, str]] = {
    "assign_basic": ("{var}={val}", "{var}=" + BLANK + ". " + ARROW),
    "assign_math": ("Let {var} = {val}.", "Then {var} = " + BLANK + ". " + ARROW),
    "assign_code": ("{var} = {val}", "print({var})  # prints " + BLANK + ". " + ARROW),
}


@dataclass(frozen=True)
class Problem:
    """One generated problem: the prompt, its single correct answer and plausible wrong answers.

    ``prompt`` ends with the ``->`` marker (no trailing space) and ``answer`` has no leading space,
    so a scorer can compare ``prompt + " " + choice`` for ``choice`` in ``(answer, *distractors)``.
    """

    task: str
    depth: int
    prompt: str
    answer: str
    distractors: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.answer in self.distractors or len(set(self.distractors)) != len(self.distractors):
            raise ValueError(
                f"distractors {self.distractors!r} must be distinct and differ from answer {self.answer!r}"
            )

    def text(self) -> str:
        """The solved problem, ``prompt + " " + answer``: the form a language model trains on."""
        return f"{self.prompt} {self.answer}"


def allowed_depths(task: str) -> tuple[int, ...]:
    """Depths valid for ``task``: ``ASSIGN_DEPTHS`` for variable assignment, ``(0,)`` for copying."""
    _check_task(task)
    return ASSIGN_DEPTHS if task in ASSIGN_TASKS else (0,)


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"task={task!r} is not a reasoning-primitive task; allowed values: {TASKS}")


def _check_depth(task: str, depth: int) -> None:
    allowed = allowed_depths(task)
    check_choice("depth", depth, allowed, allowed=f"it is not valid for task {task!r}; allowed values: {allowed}")


def _random_words(rng: random.Random, n: int) -> list[str]:
    """``n`` distinct random 3-letter lowercase strings."""
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < n:
        word = "".join(rng.choice(string.ascii_lowercase) for _ in range(3))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def make_copy_problem(
    task: str,
    rng: random.Random,
    seq_len: int = COPY_SEQ_LEN,
    segment_len: int = COPY_SEGMENT_LEN,
) -> Problem:
    """An induction-copying problem: ``seq_len`` distinct words, a repeated segment, the next word.

    ``task`` is ``copy_random`` (random 3-letter strings) or ``copy_real`` (packaged English words).
    The defaults (10 words, segment of 5) are the paper's; distractors are the other ``seq_len - 1``
    words of the sequence.
    """
    if task not in COPY_TASKS:
        raise ValueError(f"task={task!r} is not a copying task; allowed values: {COPY_TASKS}")
    if not 1 <= segment_len < seq_len:
        raise ValueError(f"segment_len={segment_len!r} must satisfy 1 <= segment_len < seq_len={seq_len!r}")
    if task == "copy_random":
        seq = _random_words(rng, seq_len)
    else:
        seq = rng.sample(load_real_words(), seq_len)
    start = rng.randrange(seq_len - segment_len)  # leaves seq[start + segment_len] to predict
    shown = seq + seq[start : start + segment_len]
    prompt = f"{_COPY_HEADER} {' '.join(shown)} {BLANK} . {ARROW}"
    answer = seq[start + segment_len]
    distractors = tuple(w for w in seq if w != answer)
    return Problem(task=task, depth=0, prompt=prompt, answer=answer, distractors=distractors)


def make_assign_problem(
    task: str,
    rng: random.Random,
    depth: int = 0,
    width: int = ASSIGN_WIDTH,
    value_range: tuple[int, int] = ASSIGN_VALUE_RANGE,
) -> Problem:
    """A variable-assignment problem whose query needs exactly ``depth`` substitution hops.

    ``depth + 1`` layers of ``width`` bindings (numbers first, then variable-to-variable layers),
    written in the template of ``task`` (see the module docstring). ``value_range`` is inclusive and
    must hold at least ``width`` numbers; the ``width * (depth + 1)`` variable names (distinct single
    lowercase letters) must fit in the alphabet. Distractors are the other ``width - 1`` numbers.
    """
    if task not in ASSIGN_TASKS:
        raise ValueError(f"task={task!r} is not a variable-assignment task; allowed values: {ASSIGN_TASKS}")
    check_int("depth", depth, 0)
    if width < 2 or width * (depth + 1) > len(string.ascii_lowercase):
        raise ValueError(f"width={width!r} with depth={depth!r} needs 2 <= width and width*(depth+1) <= 26 names")
    lo, hi = value_range
    if hi - lo + 1 < width:
        raise ValueError(f"value_range={value_range!r} holds fewer than width={width!r} distinct numbers")
    binding, query = _ASSIGN_TEMPLATES[task]

    names = rng.sample(string.ascii_lowercase, width * (depth + 1))
    layers = [names[k * width : (k + 1) * width] for k in range(depth + 1)]
    values = [str(v) for v in rng.sample(range(lo, hi + 1), width)]
    resolved = dict(zip(layers[0], values))  # variable -> its number
    lines: list[str] = []
    layer0 = list(zip(layers[0], values))
    rng.shuffle(layer0)
    lines += [binding.format(var=var, val=val) for var, val in layer0]
    for k in range(1, depth + 1):
        targets = list(layers[k - 1])
        rng.shuffle(targets)  # one-to-one map layer k -> layer k-1
        pairs = list(zip(layers[k], targets))
        rng.shuffle(pairs)
        lines += [binding.format(var=var, val=target) for var, target in pairs]
        resolved.update({var: resolved[target] for var, target in pairs})
    asked = rng.choice(layers[-1])
    answer = resolved[asked]
    prompt = _ASSIGN_HEADER + "\n".join(lines) + "\n" + query.format(var=asked)
    distractors = tuple(val for _, val in layer0 if val != answer)
    return Problem(task=task, depth=depth, prompt=prompt, answer=answer, distractors=distractors)


def generate_problem(task: str, rng: random.Random, depth: int = 0) -> Problem:
    """One problem of ``task`` (one of ``TASKS``) at ``depth`` with the paper's default sizes.

    ``depth`` must be in ``ASSIGN_DEPTHS`` for the ``assign_*`` tasks and 0 for the copying tasks;
    anything else raises ``ValueError`` naming the argument, its value and the allowed values.
    """
    _check_task(task)
    _check_depth(task, depth)
    if task in COPY_TASKS:
        return make_copy_problem(task, rng)
    return make_assign_problem(task, rng, depth)


def few_shot_text(task: str, rng: random.Random, depth: int = 0, shots: int = MAX_SHOTS) -> tuple[str, Problem]:
    """``shots`` solved problems then one unsolved prompt, blank-line separated, and that query problem.

    All problems share ``task`` and ``depth`` (the benchmark's in-context format). The returned text
    ends with the query's ``->`` marker; score it by appending ``" " + choice``.
    """
    _check_task(task)
    _check_depth(task, depth)
    check_int("shots", shots, 0)
    examples = [generate_problem(task, rng, depth) for _ in range(shots)]
    query = generate_problem(task, rng, depth)
    return "\n\n".join([p.text() for p in examples] + [query.prompt]), query


def training_document(rng: random.Random) -> str:
    """One document of the embedded default corpus: 1..6 solved problems of one task and depth.

    Draws the task uniformly from ``TASKS``, the depth uniformly from ``ASSIGN_DEPTHS`` (assignment
    tasks; 0 for copying) and a number of shots uniformly from 0..``MAX_SHOTS``, then writes that
    many solved examples plus a solved query, joined by blank lines: the benchmark's few-shot text
    with every answer filled in, so pretraining sees exactly the evaluated format.
    """
    task = rng.choice(TASKS)
    depth = rng.choice(ASSIGN_DEPTHS) if task in ASSIGN_TASKS else 0
    shots = rng.randint(0, MAX_SHOTS)
    return "\n\n".join(generate_problem(task, rng, depth).text() for _ in range(shots + 1))
