"""Real English words for the *copying real words* reasoning primitive.

The list ships with the package as ``words.txt`` (one word a line: lowercase, alphabetic, three or
more letters, unique, sorted). It was written by hand from common English vocabulary (nouns, verbs,
adjectives and function words), not generated, so that ``copy_real`` copies words a language model
has seen in natural text, in contrast to the random 3-letter strings of ``copy_random``
(seed 000, App. I.1, following Saunshi et al. 2024).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

__all__ = ["load_real_words"]


@lru_cache(maxsize=1)
def load_real_words() -> tuple[str, ...]:
    """The packaged English word list, in file order (cached: read once per process).

    Blank lines are skipped and surrounding whitespace stripped; a malformed entry (not lowercase
    alphabetic of 3+ letters, or repeated) raises ``ValueError`` so a bad edit of the data file fails
    loudly instead of silently changing the copying task.
    """
    text = resources.files(__package__).joinpath("words.txt").read_text(encoding="utf-8")
    words: list[str] = []
    seen: set[str] = set()
    for lineno, raw in enumerate(text.splitlines(), start=1):
        word = raw.strip()
        if not word:
            continue
        if len(word) < 3 or not (word.isascii() and word.isalpha() and word.islower()):
            raise ValueError(f"words.txt line {lineno}: {word!r} is not a lowercase alphabetic word of 3+ letters")
        if word in seen:
            raise ValueError(f"words.txt line {lineno}: {word!r} appears twice")
        seen.add(word)
        words.append(word)
    return tuple(words)
