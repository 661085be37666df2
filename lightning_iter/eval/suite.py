"""The 22-task suite of seed 000 §3 / App. A "Benchmarks" (and seed 004 App. C): its tasks, categories, local data.

The suite ships as lm-eval tasks in `lm_eval_tasks/suite/` (group `lightning_iter_suite`). Nothing is downloaded:
each dataset comes from a local file in its Hugging Face hub format, `<root>/<name>/<split>.{jsonl,json,parquet}`
(root: `--metadata '{"suite_root": DIR}'` or `$LIGHTNING_ITER_SUITE_DATA`; one file or folder per dataset with
`{"suite_paths": {"<name>": PATH}}`), or else from the Hugging Face datasets cache of its hub id.
`check_datasets` names every missing one in one line before any model runs. The papers do not give prompt
formats; every task follows the lm-eval standard task of its dataset where there is one (named per task below).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError

ROOT_ENV = "LIGHTNING_ITER_SUITE_DATA"
SUITE_GROUP = "lightning_iter_suite"
EXTENSIONS = ("jsonl", "json", "parquet")
PRIMITIVE_TASKS = (  # the existing lm-eval primitive tasks at depth 0 (seed 004 Table 6 columns), reused by name
    "primitives_copy_random_d0",
    "primitives_copy_real_d0",
    "primitives_assign_basic_d0",
    "primitives_assign_code_d0",
    "primitives_assign_math_d0",
)


@dataclass(frozen=True)
class Category:
    """A column of seed 000 Table 1 / Table 3: its lm-eval group (or single task), metric and title."""

    key: str
    title: str
    metric: str
    tasks: tuple[str, ...]
    lm_eval_group: str | None = None  # an existing group reused as the category (default: suite_<key>)

    @property
    def group(self) -> str:
        """The lm-eval name whose result is the category mean (a one-task category is the task itself)."""
        if self.lm_eval_group:
            return self.lm_eval_group
        return self.tasks[0] if len(self.tasks) == 1 else f"suite_{self.key}"


CATEGORIES = (
    Category(
        "open_book_qa",
        "Open-book Q&A (F1 ↑)",
        "f1",
        ("suite_tydiqa_goldp", "suite_squadv2", "suite_drop", "suite_quac", "suite_coqa"),
    ),
    Category(
        "closed_book_qa",
        "Closed-book Q&A (F1 ↑)",
        "f1",
        ("suite_triviaqa", "suite_tydiqa_nocontext", "suite_nq_open", "suite_webqs"),
    ),
    Category("lambada", "Lambada (Acc ↑)", "acc", ("suite_lambada",)),
    Category("hellaswag", "HellaSwag (Acc ↑)", "acc", ("suite_hellaswag",)),
    Category(
        "math_word_problems",
        "Math Word Problems (Acc ↑)",
        "acc",
        (
            "suite_asdiv",
            "suite_mawps_addsub",
            "suite_mawps_multiarith",
            "suite_mawps_singleop",
            "suite_mawps_singleeq",
            "suite_svamp",
        ),
    ),
    # the existing group of the five depth-0 primitive tasks (eval/lm_eval_tasks/reasoning_primitives.yaml)
    Category("reasoning_primitives", "Reasoning Primitives (Acc ↑)", "acc", PRIMITIVE_TASKS, "reasoning_primitives"),
)
"""The seeds' column order (seed 000 Table 1): Open-book, Closed-book, Lambada, HellaSwag, Math, Primitives."""


@dataclass(frozen=True)
class Source:
    """Where one suite dataset lives: its local folder name, split, and hub id (None: no hub copy exists)."""

    name: str
    split: str
    hub: str | None
    hub_config: str | None = None


SOURCES = {
    "suite_triviaqa": Source("triviaqa", "validation", "mandarjoshi/trivia_qa", "rc.nocontext"),
    "suite_tydiqa_nocontext": Source("tydiqa", "validation", "google-research-datasets/tydiqa", "secondary_task"),
    "suite_nq_open": Source("nq_open", "validation", "google-research-datasets/nq_open", "nq_open"),
    "suite_webqs": Source("webqs", "test", "stanfordnlp/web_questions"),
    "suite_tydiqa_goldp": Source("tydiqa", "validation", "google-research-datasets/tydiqa", "secondary_task"),
    "suite_squadv2": Source("squadv2", "validation", "rajpurkar/squad_v2", "squad_v2"),
    "suite_drop": Source("drop", "validation", "EleutherAI/drop"),
    "suite_quac": Source("quac", "validation", "allenai/quac"),
    "suite_coqa": Source("coqa", "validation", "EleutherAI/coqa"),
    "suite_lambada": Source("lambada_openai", "test", "EleutherAI/lambada_openai", "default"),
    "suite_hellaswag": Source("hellaswag", "validation", "Rowan/hellaswag"),
    "suite_asdiv": Source("asdiv", "validation", "EleutherAI/asdiv", "asdiv"),
    # MAWPS has no hub copy: the repository's JSON files (AddSub.json, ...: `sQuestion`, `lSolutions`)
    "suite_mawps_addsub": Source("mawps_addsub", "test", None),
    "suite_mawps_multiarith": Source("mawps_multiarith", "test", None),
    "suite_mawps_singleop": Source("mawps_singleop", "test", None),
    "suite_mawps_singleeq": Source("mawps_singleeq", "test", None),
    "suite_svamp": Source("svamp", "test", "ChilleD/SVAMP"),
}


def suite_tasks(names: Iterable[str]) -> list[str]:
    """The data-backed suite tasks that lm-eval task or group `names` run (primitives need no data)."""
    out: list[str] = []
    for name in names:
        if name == SUITE_GROUP:
            found = [t for c in CATEGORIES for t in c.tasks]
        else:
            found = [t for c in CATEGORIES if name in (c.group, f"suite_{c.key}") for t in c.tasks] or [name]
        out += [t for t in found if t in SOURCES and t not in out]
    return out


def data_root(metadata: Mapping[str, Any] | None = None) -> Path | None:
    """The suite's data root: `suite_root` in lm-eval's `--metadata`, else `$LIGHTNING_ITER_SUITE_DATA`."""
    root = (metadata or {}).get("suite_root") or os.environ.get(ROOT_ENV)
    return Path(root).expanduser() if root else None


def _local_file(task: str, root: Path | None, paths: Mapping[str, str]) -> tuple[Path | None, list[str]]:
    """(the local file of `task`'s split if one exists, the paths looked at)."""
    source = SOURCES[task]
    override = paths.get(source.name) or paths.get(task)
    folder = Path(override).expanduser() if override else (root / source.name if root else None)
    if folder is None:
        return None, []
    if folder.is_file():
        return folder, [str(folder)]
    candidates = [folder / f"{source.split}.{ext}" for ext in EXTENSIONS]
    return next((p for p in candidates if p.is_file()), None), [str(candidates[0].with_suffix(".{jsonl,json,parquet}"))]


def _hub_cached(source: Source) -> bool:
    """Whether the datasets cache holds `source.hub` (the layout `datasets` reads offline: owner___name/config)."""
    if source.hub is None:
        return False
    import datasets

    folder = Path(datasets.config.HF_DATASETS_CACHE) / source.hub.replace("/", "___")
    return (folder / source.hub_config).is_dir() if source.hub_config else folder.is_dir()


def missing_datasets(tasks: Iterable[str], metadata: Mapping[str, Any] | None = None) -> list[str]:
    """`task: where it was expected` for every suite task in `tasks` with neither a local file nor a cached copy."""
    root, paths = data_root(metadata), dict((metadata or {}).get("suite_paths") or {})
    missing = []
    for task in suite_tasks(tasks):
        found, looked = _local_file(task, root, paths)
        source = SOURCES[task]
        if found is None and not _hub_cached(source):
            where = looked or [f"<suite_root>/{source.name}/{source.split}.{{jsonl,json,parquet}} (no root set)"]
            hub = f" or the HF datasets cache of {source.hub}" if source.hub else ""
            missing.append(f"{task}: {where[0]}{hub}")
    return missing


def check_datasets(tasks: Iterable[str], metadata: Mapping[str, Any] | None = None) -> None:
    """Raise one ConfigError that names every missing suite dataset and the path it was expected at."""
    missing = missing_datasets(tasks, metadata)
    if missing:
        raise ConfigError(
            f"{len(missing)} suite dataset(s) missing (set --metadata '{{\"suite_root\": DIR}}' or ${ROOT_ENV}, "
            f"layout DIR/<name>/<split>.jsonl in each dataset's hub format): " + "; ".join(missing)
        )


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a local jsonl, json (a list, or `{"data": [...]}`) or parquet file."""
    if path.suffix == ".parquet":
        import pyarrow.parquet

        return pyarrow.parquet.read_table(path).to_pylist()
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    data = json.loads(text)
    return list(data["data"] if isinstance(data, dict) and "data" in data else data)


def source_rows(task: str, metadata: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The hub-format rows of `task`'s evaluation split, from a local file or the datasets cache."""
    check_datasets([task], metadata)
    found, _ = _local_file(task, data_root(metadata), dict((metadata or {}).get("suite_paths") or {}))
    if found is not None:
        try:
            return read_rows(found)
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"{task}: {found} is not a readable jsonl/json/parquet file: {err}") from None
    import datasets

    source = SOURCES[task]
    return list(datasets.load_dataset(source.hub, source.hub_config, split=source.split))


# ---- hub rows -> lm-eval docs (`prompt`, and `answers` / `target` / `choices` + `gold`) -------------------------


def _answer(text: str, answers: Sequence[str]) -> dict[str, Any]:
    answers = [str(a) for a in answers]
    return {"prompt": text, "answers": answers, "target": answers[0] if answers else ""}


def _tydiqa_english(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if str(r.get("id", "")).startswith("english-")]


def _triviaqa(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """lm-eval `triviaqa`: "Question: {q}?\\nAnswer:", F1 against every alias."""
    return [_answer(f"Question: {r['question']}?\nAnswer:", r["answer"]["aliases"]) for r in rows]


def _tydiqa_nocontext(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """lm-eval `tydiqa_goldp_en` without its context (English TyDiQA-GoldP questions, closed-book)."""
    return [_answer(f"Question: {r['question']}\n\nAnswer:", r["answers"]["text"]) for r in _tydiqa_english(rows)]


def _nq_open(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """lm-eval `nq_open` (its "Answer these questions:" description included in the prompt)."""
    return [_answer(f"Answer these questions:\n\nQ: {r['question']}?\nA:", r["answer"]) for r in rows]


def _webqs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """lm-eval `webqs` prompt; generated and F1-scored (lm-eval scores it by choice likelihood, the papers by F1)."""
    return [_answer(f"Question: {r['question']}\nAnswer:", r["answers"]) for r in rows]


def _tydiqa_goldp(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """lm-eval `tydiqa_goldp_en`."""
    return [
        _answer(f"Context: {r['context']}\n\nQuestion: {r['question']}\n\nAnswer:", r["answers"]["text"])
        for r in _tydiqa_english(rows)
    ]


def _squadv2(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """lm-eval `squadv2` prompt; an unanswerable question's answer is "unanswerable" (lm-eval's target too)."""
    return [
        _answer(
            f"Title: {r['title']}\n\nBackground: {r['context']}\n\nQuestion: {r['question']}\n\nAnswer:",
            list(r["answers"]["text"]) or ["unanswerable"],
        )
        for r in rows
    ]


def _drop(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """lm-eval `drop`: "{passage} {question}", answers as lm-eval's `get_answers` tuples (its F1 scores them)."""
    from lm_eval.tasks.drop.utils import get_answers

    docs = []
    for r in rows:
        answers = [list(a) for a in get_answers(r)]
        docs.append({"prompt": f"{r['passage']} {r['question']}", "answers": answers, "target": ",".join(answers[0])})
    return docs


def _dialogue(background: str, questions: Sequence[str], answers: Sequence[str]) -> str:
    """lm-eval `coqa`'s conversation: the passage, the earlier turns, then the last question and "A:"."""
    text = background + "\n\n"
    for n, question in enumerate(questions):
        text += f"Q: {question}\n\n" + (f"A: {answers[n]}\n\n" if n < len(questions) - 1 else "A:")
    return text


def _coqa(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """lm-eval `coqa`: the story and all turns; the last answer (and its additional answers) is the target."""
    docs = []
    for r in rows:
        questions, answers = r["questions"]["input_text"], r["answers"]["input_text"]
        golds = [answers[-1]]
        for extra in (r.get("additional_answers") or {}).values():
            text = extra["input_text"][len(questions) - 1]
            if text.lower() not in map(str.lower, golds):
                golds.append(text)
        docs.append(_answer(_dialogue(r["story"], questions, answers), golds))
    return docs


def _quac(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """No lm-eval task: QuAC in lm-eval `coqa`'s format (section text, earlier turns, last question)."""
    docs = []
    for r in rows:
        questions, texts = r["questions"], r["answers"]["texts"]
        background = f"{r.get('wikipedia_page_title', '')}: {r.get('section_title', '')}\n\n{r['context']}"
        docs.append(_answer(_dialogue(background.strip(), questions, [t[0] for t in texts]), texts[-1]))
    return docs


def _lambada(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """lm-eval `lambada_openai`: the passage without its last word, then " " + the last word."""
    return [{"prompt": " ".join(r["text"].split(" ")[:-1]), "target": " " + r["text"].split(" ")[-1]} for r in rows]


def _hellaswag(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """lm-eval `hellaswag` (its own preprocessing)."""
    from lm_eval.tasks.hellaswag.utils import preprocess

    return [
        {
            "prompt": preprocess(r["activity_label"] + ": " + r["ctx_a"] + " " + r["ctx_b"].capitalize()),
            "choices": [preprocess(e) for e in r["endings"]],
            "gold": int(r["label"]),
        }
        for r in rows
    ]


def _math(question: str, answer: Any) -> dict[str, Any]:
    """lm-eval `asdiv`'s "Question:...\\nAnswer:" layout; the target is the number."""
    return {"prompt": f"{question.strip()}\nAnswer:", "answers": [_number_text(answer)], "target": _number_text(answer)}


def _number_text(value: Any) -> str:
    number = float(str(value).split(" (")[0].replace(",", ""))
    return str(int(number)) if number.is_integer() else f"{number:g}"


def _asdiv(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [_math(f"{r['body']}\nQuestion:{r['question']}", r["answer"]) for r in rows]


def _mawps(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [_math(f"Question:{r['sQuestion']}", r["lSolutions"][0]) for r in rows]


def _svamp(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [_math(f"{r['Body']}\nQuestion:{r['Question']}", r["Answer"]) for r in rows]


DOCS: dict[str, Callable[[list[dict[str, Any]]], list[dict[str, Any]]]] = {
    "suite_triviaqa": _triviaqa,
    "suite_tydiqa_nocontext": _tydiqa_nocontext,
    "suite_nq_open": _nq_open,
    "suite_webqs": _webqs,
    "suite_tydiqa_goldp": _tydiqa_goldp,
    "suite_squadv2": _squadv2,
    "suite_drop": _drop,
    "suite_quac": _quac,
    "suite_coqa": _coqa,
    "suite_lambada": _lambada,
    "suite_hellaswag": _hellaswag,
    "suite_asdiv": _asdiv,
    "suite_mawps_addsub": _mawps,
    "suite_mawps_multiarith": _mawps,
    "suite_mawps_singleop": _mawps,
    "suite_mawps_singleeq": _mawps,
    "suite_svamp": _svamp,
}


def load_docs(task: str, metadata: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """`task`'s lm-eval docs from its local data (a one-line ConfigError names the row that does not fit)."""
    rows = source_rows(task, metadata)
    try:
        docs = DOCS[task](rows)
    except (KeyError, IndexError, TypeError, ValueError) as err:
        raise ConfigError(
            f"{task}: a row of its data is not in the {SOURCES[task].hub or 'MAWPS'} format ({type(err).__name__}: "
            f"{err}); see docs/evaluation.md for the fields each dataset needs"
        ) from None
    if not docs:
        raise ConfigError(f"{task}: its data has no usable rows (TyDiQA needs English rows, ids 'english-...')")
    return docs


# ---- metrics --------------------------------------------------------------------------------------------------


def qa_f1(prediction: str, answers: Sequence[str]) -> dict[str, float]:
    """SQuAD token F1 and exact match, max over the gold answers (lm-eval's TyDiQA/SQuAD normalisation)."""
    from lm_eval.tasks.tydiqa.utils import exact_match_score, f1_score

    prediction = prediction.strip().split("\n")[0].strip()
    f1 = max(float(f1_score(prediction, a, "en")) for a in answers)
    em = max(float(exact_match_score(prediction, a, "en")) for a in answers)
    return {"f1": f1, "em": em}


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def number_match(prediction: str, answer: str) -> float:
    """1.0 when the first number in the generation equals the answer (commas ignored), else 0.0."""
    found = _NUMBER.search(prediction.replace("$", ""))
    if found is None:
        return 0.0
    return float(abs(float(found.group().replace(",", "")) - float(answer)) < 1e-4)


def _option(argv: Sequence[str], name: str) -> str | None:
    """The value of `--name VALUE` / `--name=VALUE` in an lm-eval argv (the last one given)."""
    value = None
    for n, arg in enumerate(argv):
        if arg == name and n + 1 < len(argv):
            value = argv[n + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def check_harness_argv(argv: Sequence[str]) -> None:
    """Before lm-eval builds a model: every suite dataset its `--tasks` need must be local (one ConfigError)."""
    tasks = _option(argv, "--tasks")
    if not tasks:
        return
    names = [t.strip() for t in tasks.split(",") if t.strip()]
    if not suite_tasks(names):
        return
    text = _option(argv, "--metadata")
    try:
        metadata = json.loads(text) if text else {}
    except json.JSONDecodeError as err:
        raise ConfigError(f"--metadata={text!r} is not a JSON object: {err}") from None
    if not isinstance(metadata, dict):
        raise ConfigError(f"--metadata={text!r} is not allowed: it must be a JSON object")
    check_datasets(names, metadata)
