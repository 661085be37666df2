"""The layer-plan transformer: `ModelConfig`, `Transformer`, presets and FLOPs accounting."""

from .config import KERNEL_CHOICES, PRESETS, ModelConfig
from .flops import inference_flops_per_token, training_flops_per_token
from .plan import Plan, apply_repeat, identity_plan, parse_repeat, repeat_block, validate_plan
from .transformer import Transformer

__all__ = [
    "KERNEL_CHOICES",
    "PRESETS",
    "ModelConfig",
    "Plan",
    "Transformer",
    "apply_repeat",
    "identity_plan",
    "inference_flops_per_token",
    "parse_repeat",
    "repeat_block",
    "training_flops_per_token",
    "validate_plan",
]
