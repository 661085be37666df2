"""The layer-plan transformer: `ModelConfig`, `Transformer`, presets and FLOPs accounting."""

from .config import KERNEL_CHOICES, PRESETS, ModelConfig
from .flops import inference_flops_per_token, training_flops_per_token
from .plan import (
    LoopSpan,
    Plan,
    apply_repeat,
    find_loop,
    format_plan,
    identity_plan,
    is_identity,
    loop_plan,
    loop_spans,
    parse_plan,
    parse_repeat,
    repeat_block,
    reverse_block,
    skip_block,
    swap_blocks,
    validate_plan,
)
from .transformer import DepthStep, Transformer

__all__ = [
    "KERNEL_CHOICES",
    "PRESETS",
    "DepthStep",
    "LoopSpan",
    "ModelConfig",
    "Plan",
    "Transformer",
    "apply_repeat",
    "find_loop",
    "format_plan",
    "identity_plan",
    "inference_flops_per_token",
    "is_identity",
    "loop_plan",
    "loop_spans",
    "parse_plan",
    "parse_repeat",
    "repeat_block",
    "reverse_block",
    "skip_block",
    "swap_blocks",
    "training_flops_per_token",
    "validate_plan",
]
