"""Tiny files in the hub formats of the analysis datasets (GSM8K, MATH, MQuAKE, FineWeb-Edu, Lambada)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

WORDS = "the cat sat on a warm mat while two dogs ran after one red ball in the old park".split()


def _sentence(i: int, n: int = 12) -> str:
    return " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(n))


def records(name: str, n: int = 6) -> list[dict[str, Any]]:
    """`n` records of dataset `name` with the hub's field names (and some extra fields, as the hub files have)."""
    if name == "gsm8k":
        return [
            {"question": f"Q{i}: {_sentence(i)}?", "answer": f"{_sentence(i + 1, 6)}\n#### {i + 3}"} for i in range(n)
        ]
    if name == "math":
        return [
            {"problem": f"P{i}: {_sentence(i)}", "level": "Level 1", "type": "Algebra", "solution": f"$\\boxed{{{i}}}$"}
            for i in range(n)
        ]
    if name == "mquake":
        return [
            {
                "case_id": i,
                "requested_rewrite": [],
                "questions": [f"Who {_sentence(i, 8)}?", "second", "third"],
                "answer": WORDS[i % len(WORDS)],
                "answer_alias": [],
                "new_answer": "x",
            }
            for i in range(n)
        ]
    if name == "fineweb_edu":
        return [{"text": _sentence(i, 30), "id": f"<urn:{i}>", "url": "http://x", "score": 3.1} for i in range(n)]
    if name == "lambada":
        return [{"text": f"{_sentence(i, 20)} {WORDS[i % len(WORDS)]}"} for i in range(n)]
    raise KeyError(name)


def write_dataset(directory: Path, name: str, suffix: str, rows: list[dict[str, Any]] | None = None) -> Path:
    """`directory/<name><suffix>` as JSON lines, a JSON array (MQuAKE's form) or Parquet."""
    rows = records(name) if rows is None else rows
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}{suffix}"
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif suffix == ".json":
        path.write_text(json.dumps(rows))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


HUB_SUFFIX = {"gsm8k": ".parquet", "math": ".jsonl", "mquake": ".json", "fineweb_edu": ".parquet", "lambada": ".jsonl"}


def write_all(directory: Path, n: int = 6) -> Path:
    """Every dataset in the form its hub copy has (GSM8K and FineWeb-Edu parquet, MQuAKE JSON, ...)."""
    for name, suffix in HUB_SUFFIX.items():
        write_dataset(directory, name, suffix, records(name, n))
    return directory
