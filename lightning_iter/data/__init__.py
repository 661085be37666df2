"""Data: the embedded reasoning-primitive corpus, tokenizers (bytes, Hugging Face), prepared corpora, data modules."""

from .hf_tokenizer import HFTokenizer
from .primitive_corpus import PrimitivesDataModule
from .streaming import StreamingDataModule
from .tokenizer import ByteTokenizer, Tokenizer, register_tokenizer_kind, tokenizer_from_spec

register_tokenizer_kind("hf", HFTokenizer.from_spec)

__all__ = [
    "ByteTokenizer",
    "HFTokenizer",
    "PrimitivesDataModule",
    "StreamingDataModule",
    "Tokenizer",
    "tokenizer_from_spec",
]
