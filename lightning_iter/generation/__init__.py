"""Text generation with a KV cache indexed by effective depth, sampling, and adaptive depth (zero-shot exit)."""

from ..model.plan import LoopSpan, find_loop
from .adaptive import AdaptiveDepth, adaptive_forward
from .generate import CACHE_CHOICES, GenerationResult, generate
from .sampling import sample_next

__all__ = [
    "CACHE_CHOICES",
    "AdaptiveDepth",
    "GenerationResult",
    "LoopSpan",
    "adaptive_forward",
    "find_loop",
    "generate",
    "sample_next",
]
