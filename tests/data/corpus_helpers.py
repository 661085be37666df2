"""A generated two-source local corpus (prose and arithmetic) whose blocks tell which source they came from."""

from __future__ import annotations

import json
import random
from pathlib import Path

WORDS = "the cat sat on a mat and then it ran far away from home while dogs barked loudly at night".split()
MATH_CHARS = set("0123456789+-*= \n")


def write_corpus(root: Path, docs: int = 60, seed: int = 0) -> dict[str, Path]:
    """prose/*.txt (one document per file), math.jsonl (field "text") and math.parquet (column "body")."""
    rng = random.Random(seed)
    prose = root / "prose"
    prose.mkdir(parents=True, exist_ok=True)
    for i in range(docs // 10):
        text = "\n\n".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 40))) for _ in range(10))
        (prose / f"part{i}.txt").write_text(text)
    math_docs = [
        " ".join(
            f"{a} + {b} = {a + b}"
            for a, b in ((rng.randint(0, 99), rng.randint(0, 99)) for _ in range(rng.randint(3, 12)))
        )
        for _ in range(docs)
    ]
    jsonl = root / "math.jsonl"
    jsonl.write_text("".join(json.dumps({"text": d, "id": i}) + "\n" for i, d in enumerate(math_docs)))
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = root / "math.parquet"
    pq.write_table(pa.table({"body": math_docs[: docs // 2], "n": list(range(docs // 2))}), parquet, row_group_size=10)
    return {"prose": prose, "jsonl": jsonl, "parquet": parquet}


def source_of(text: str) -> str:
    """'math' when the decoded block is only digits/operators, 'prose' when it has no digits."""
    if set(text) <= MATH_CHARS:
        return "math"
    if not any(c.isdigit() for c in text):
        return "prose"
    return "mixed"
