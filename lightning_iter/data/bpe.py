"""Train a byte-level BPE tokenizer (GPT-2 style, as cosmo2) on the user's files with the `tokenizers` library."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from ..atomic import write_text_atomic
from ..errors import ConfigError, check_int
from .documents import check_input, find_inputs, iter_documents
from .hf_tokenizer import HFTokenizer

DEFAULT_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>")


def train_bpe(
    files: Sequence[str | Path],
    vocab_size: int,
    *,
    field: str = "text",
    txt_split: str = "file",
    min_frequency: int = 2,
    special_tokens: Sequence[str] = DEFAULT_SPECIAL_TOKENS,
    show_progress: bool = True,
) -> HFTokenizer:
    """A byte-level BPE tokenizer of `vocab_size` ids (specials first, so `<|endoftext|>` is id 0, as in cosmo2)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    check_int("vocab_size", vocab_size)
    minimum = 256 + len(special_tokens)
    if vocab_size < minimum:
        raise ConfigError(
            f"vocab_size={vocab_size} is not allowed: a byte-level BPE needs at least {minimum} "
            f"(256 bytes + {len(special_tokens)} special tokens)"
        )
    if not special_tokens:
        raise ConfigError("special_tokens is empty: the first special token is the end-of-text (EOS) token")
    paths = find_inputs(files)
    for path in paths:
        check_input(path, field)

    def documents() -> Iterator[str]:
        for path in paths:
            yield from iter_documents(path, field, txt_split)

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=show_progress,
    )
    backend.train_from_iterator(documents(), trainer=trainer)
    pad = "<pad>" if "<pad>" in special_tokens else None
    return HFTokenizer(backend, eos=special_tokens[0], pad=pad, name="bpe")


def save_tokenizer(tokenizer: HFTokenizer, out: str | Path) -> Path:
    """Write `tokenizer.json` atomically (temp file in the same directory, then rename)."""

    return write_text_atomic(out, tokenizer.to_spec()["json"])
