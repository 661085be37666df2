"""Tokenizers: the built-in byte-level one, the `Tokenizer` protocol every tokenizer follows, and specs.

A *spec* is a small JSON-able dict that rebuilds a tokenizer (`tokenizer_from_spec`); checkpoints store
it so `eval`, `generate` and `analyze` decode with the tokenizer the model was trained with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigError


@runtime_checkable
class Tokenizer(Protocol):
    """What the rest of the package needs from a tokenizer."""

    name: str
    vocab_size: int
    eos_id: int
    bos_id: int | None
    pad_id: int | None

    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> list[int]: ...

    def decode(self, ids: Iterable[int]) -> str: ...

    def to_spec(self) -> dict[str, Any]: ...


class ByteTokenizer:
    """Bytes 0..255 map to ids 0..255; ids 256, 257, 258 are pad, bos and eos."""

    pad_id = 256
    bos_id = 257
    eos_id = 258
    vocab_size = 259
    name = "bytes"

    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> list[int]:
        ids = list(text.encode("utf-8"))
        return ([self.bos_id] if bos else []) + ids + ([self.eos_id] if eos else [])

    def decode(self, ids: Iterable[int]) -> str:
        """Text of the byte ids; special ids are dropped and broken UTF-8 is replaced, never raised."""
        return bytes(i for i in ids if 0 <= i < 256).decode("utf-8", errors="replace")

    def to_spec(self) -> dict[str, Any]:
        return {"kind": "bytes"}

    def to_tokenizer_json(self) -> str:
        """This tokenizer as a Hugging Face `tokenizer.json` (same ids, specials and decode), so exports load with
        `AutoTokenizer`: byte-level BPE without merges over GPT-2's byte alphabet, one token per byte."""
        from tokenizers import AddedToken, decoders, models, pre_tokenizers
        from tokenizers import Tokenizer as Backend

        vocab = {char: byte for byte, char in _byte_alphabet().items()}
        backend = Backend(models.BPE(vocab=vocab, merges=[]))
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
        backend.decoder = decoders.ByteLevel()
        backend.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in BYTE_SPECIALS])
        return backend.to_str()


BYTE_SPECIALS = ("<pad>", "<bos>", "<eos>")  # ids 256, 257, 258 in `ByteTokenizer.to_tokenizer_json`


def _byte_alphabet() -> dict[int, str]:
    """GPT-2's byte -> printable character map (the `ByteLevel` pre-tokenizer's alphabet, in byte order)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("\xa1"), ord("\xac") + 1), *range(ord("\xae"), 256)]
    shifted = [b for b in range(256) if b not in printable]
    chars = {b: chr(b) for b in printable} | {b: chr(256 + n) for n, b in enumerate(shifted)}
    return dict(sorted(chars.items()))


SPEC_BUILDERS: dict[str, Callable[[dict[str, Any]], Tokenizer]] = {"bytes": lambda spec: ByteTokenizer()}


def register_tokenizer_kind(kind: str, builder: Callable[[dict[str, Any]], Tokenizer]) -> None:
    """Make `tokenizer_from_spec({"kind": kind, ...})` call `builder(spec)`."""
    SPEC_BUILDERS[kind] = builder


def tokenizer_from_spec(spec: dict[str, Any] | None) -> Tokenizer:
    """Rebuild a tokenizer from `Tokenizer.to_spec()` output; `None` means the byte tokenizer."""
    if spec is None:
        return ByteTokenizer()
    kind = spec.get("kind") if isinstance(spec, dict) else None
    if kind not in SPEC_BUILDERS:
        raise ConfigError(f"tokenizer kind={kind!r} is unknown: known kinds are {', '.join(sorted(SPEC_BUILDERS))}")
    return SPEC_BUILDERS[kind](spec)
