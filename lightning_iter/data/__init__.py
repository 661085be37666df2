"""Data: the embedded reasoning-primitive corpus, the built-in tokenizer and the data modules."""

from .datamodule import PrimitivesDataModule
from .tokenizer import ByteTokenizer, Tokenizer, tokenizer_from_spec

__all__ = ["ByteTokenizer", "PrimitivesDataModule", "Tokenizer", "tokenizer_from_spec"]
