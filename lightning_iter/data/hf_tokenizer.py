"""Any Hugging Face `tokenizer.json` (e.g. the cosmo2 tokenizer of SmolLM) as a lightning_iter `Tokenizer`.

The spec (`to_spec`) embeds the whole tokenizer JSON, so a checkpoint decodes with its training
tokenizer even when the original file is gone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError

# Common special-token spellings, most specific first; used when no tokenizer_config.json names them.
EOS_CANDIDATES = ("<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "<|eos|>", "[EOS]", "<|im_end|>", "[SEP]")
BOS_CANDIDATES = ("<|begin_of_text|>", "<s>", "<bos>", "<|bos|>", "[BOS]", "<|startoftext|>", "[CLS]")
PAD_CANDIDATES = ("<pad>", "<|pad|>", "[PAD]", "<|padding|>")

TokenArg = str | int | None


def _load_backend(text: str, source: str) -> Any:
    from tokenizers import Tokenizer as Backend

    try:
        return Backend.from_str(text)
    except Exception as err:  # noqa: BLE001 - the tokenizers library raises plain Exceptions
        raise ConfigError(f"tokenizer {source} is not a valid Hugging Face tokenizer.json: {err}") from None


def _token_name(value: Any) -> str | None:
    """A tokenizer_config.json token entry: a string or `{"content": ...}`."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _config_tokens(directory: Path) -> dict[str, str]:
    """eos/bos/pad token strings named by a sibling tokenizer_config.json or special_tokens_map.json."""
    found: dict[str, str] = {}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):  # later file wins
        path = directory / name
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"{path} is not valid JSON: {err}") from None
        for role in ("eos", "bos", "pad"):
            token = _token_name(data.get(f"{role}_token"))
            if token:
                found[role] = token
    return found


class HFTokenizer:
    """A `tokenizers.Tokenizer` with known eos/bos/pad ids; encodes without the tokenizer's own template."""

    def __init__(
        self,
        backend: Any,
        *,
        eos: TokenArg = None,
        bos: TokenArg = None,
        pad: TokenArg = None,
        name: str = "hf",
        config_tokens: dict[str, str] | None = None,
    ) -> None:
        self._backend = backend
        self.name = name
        vocab = backend.get_vocab(with_added_tokens=True)
        self.vocab_size = max(vocab.values()) + 1 if vocab else 0
        specials = [t.content for t in backend.get_added_tokens_decoder().values() if t.special]
        config_tokens = config_tokens or {}
        eos_id = self._resolve("eos", eos, config_tokens.get("eos"), specials, EOS_CANDIDATES)
        if eos_id is None:
            raise ConfigError(
                f"tokenizer {name!r} has no end-of-text token: none of its special tokens {specials} is one of "
                f"{list(EOS_CANDIDATES)} and no tokenizer_config.json names eos_token; pass eos='<token>' explicitly"
            )
        self.eos_id: int = eos_id
        self.bos_id: int | None = self._resolve("bos", bos, config_tokens.get("bos"), specials, BOS_CANDIDATES)
        self.pad_id: int | None = self._resolve("pad", pad, config_tokens.get("pad"), specials, PAD_CANDIDATES)

    def _resolve(
        self, role: str, explicit: TokenArg, configured: str | None, specials: Sequence[str], candidates: Sequence[str]
    ) -> int | None:
        """Explicit argument, else the config file's token, else the first known spelling among the specials."""
        if explicit is not None:
            if isinstance(explicit, int) and not isinstance(explicit, bool):
                if not 0 <= explicit < self.vocab_size:
                    raise ConfigError(f"{role}={explicit} is not allowed: ids must be in [0, {self.vocab_size})")
                return explicit
            token_id = self._backend.token_to_id(str(explicit))
            if token_id is None:
                raise ConfigError(f"{role}={explicit!r} is not a token of tokenizer {self.name!r}")
            return token_id
        if configured is not None and self._backend.token_to_id(configured) is not None:
            return self._backend.token_to_id(configured)
        for token in candidates:
            if token in specials:
                return self._backend.token_to_id(token)
        return None

    # ---- constructors --------------------------------------------------------------------------
    @classmethod
    def from_file(
        cls, path: str | Path, *, eos: TokenArg = None, bos: TokenArg = None, pad: TokenArg = None
    ) -> HFTokenizer:
        """Load a `tokenizer.json` file, or a directory holding one (a Hugging Face model directory)."""
        path = Path(path)
        if path.is_dir():
            path = path / "tokenizer.json"
        if not path.is_file():
            raise ConfigError(f"tokenizer={path} does not exist: give a Hugging Face tokenizer.json or its directory")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"tokenizer={path} cannot be read: {err}") from None
        backend = _load_backend(text, str(path))
        return cls(
            backend,
            eos=eos,
            bos=bos,
            pad=pad,
            name=path.parent.name or path.stem,
            config_tokens=_config_tokens(path.parent),
        )

    @classmethod
    def from_str(
        cls, json_text: str, *, eos: TokenArg = None, bos: TokenArg = None, pad: TokenArg = None, name: str = "hf"
    ) -> HFTokenizer:
        """Build from the text of a `tokenizer.json`."""
        return cls(_load_backend(json_text, name), eos=eos, bos=bos, pad=pad, name=name)

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> HFTokenizer:
        """Rebuild from `to_spec()` output (the checkpoint form)."""
        if not isinstance(spec.get("json"), str):
            raise ConfigError("tokenizer spec of kind 'hf' has no 'json' string: it was not written by HFTokenizer")
        return cls.from_str(
            spec["json"],
            eos=spec.get("eos_id"),
            bos=spec.get("bos_id"),
            pad=spec.get("pad_id"),
            name=spec.get("name", "hf"),
        )

    # ---- the Tokenizer protocol ------------------------------------------------------------------
    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> list[int]:
        ids = self._backend.encode(text, add_special_tokens=False).ids
        return self._wrap(ids, bos, eos)

    def encode_batch(self, texts: Sequence[str], *, bos: bool = False, eos: bool = False) -> list[list[int]]:
        """`encode` of many texts at once (the Rust backend encodes them in parallel)."""
        encodings = self._backend.encode_batch(list(texts), add_special_tokens=False)
        return [self._wrap(e.ids, bos, eos) for e in encodings]

    def _wrap(self, ids: list[int], bos: bool, eos: bool) -> list[int]:
        if bos:
            if self.bos_id is None:
                raise ConfigError(f"tokenizer {self.name!r} has no BOS token: encode with bos=False or pass bos=...")
            ids = [self.bos_id, *ids]
        return [*ids, self.eos_id] if eos else list(ids)

    def decode(self, ids: Iterable[int]) -> str:
        """Text of the ids; special tokens and out-of-range ids are dropped, never raised."""
        return self._backend.decode([int(i) for i in ids if 0 <= int(i) < self.vocab_size], skip_special_tokens=True)

    def to_spec(self) -> dict[str, Any]:
        return {
            "kind": "hf",
            "name": self.name,
            "json": self._backend.to_str(),
            "eos_id": self.eos_id,
            "bos_id": self.bos_id,
            "pad_id": self.pad_id,
            "vocab_size": self.vocab_size,
        }

    def __getstate__(self) -> dict[str, Any]:  # picklable for DataLoader / litdata worker processes
        return self.to_spec()

    def __setstate__(self, spec: dict[str, Any]) -> None:
        self.__dict__.update(HFTokenizer.from_spec(spec).__dict__)

    def __repr__(self) -> str:
        return f"HFTokenizer(name={self.name!r}, vocab_size={self.vocab_size}, eos_id={self.eos_id})"
