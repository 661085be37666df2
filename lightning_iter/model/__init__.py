"""The layer-plan transformer: `ModelConfig`, `Transformer`, presets and FLOPs accounting."""

from .config import KERNEL_CHOICES, PRESETS, ModelConfig
from .flops import inference_flops_per_token, training_flops_per_token
from .plan import Plan, identity_plan, validate_plan
from .transformer import Transformer

__all__ = [
    "KERNEL_CHOICES",
    "PRESETS",
    "ModelConfig",
    "Plan",
    "Transformer",
    "identity_plan",
    "inference_flops_per_token",
    "training_flops_per_token",
    "validate_plan",
]
