"""Data: the embedded reasoning-primitive corpus, the built-in tokenizer and the data modules."""

from .datamodule import PrimitivesDataModule
from .tokenizer import ByteTokenizer

__all__ = ["ByteTokenizer", "PrimitivesDataModule"]
