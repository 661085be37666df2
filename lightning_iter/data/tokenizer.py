"""The built-in byte-level tokenizer: every UTF-8 byte is a token, plus pad/bos/eos. Needs no files."""

from __future__ import annotations

from collections.abc import Iterable


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
