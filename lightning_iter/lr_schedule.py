"""Trapezoidal warmup-stable-decay learning rate (seed 004 App. A; Hägele et al. 2024).

A function of the global step only, so it continues unchanged across growth and resume.
"""

from __future__ import annotations

import math

from .errors import ConfigError, check_int


def wsd_factor(step: int, *, warmup_steps: int, total_steps: int, decay_steps: int, final_factor: float = 0.0) -> float:
    """Multiplier of the peak rate at optimizer step `step`.

    Linear warmup over `warmup_steps` (step 0 already gets 1/warmup_steps), constant plateau, then
    1 − sqrt decay over the last `decay_steps` steps down to `final_factor` at `total_steps`.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_start = total_steps - decay_steps
    if step < decay_start or decay_steps == 0:
        return 1.0
    progress = min(1.0, (step - decay_start) / decay_steps)
    return final_factor + (1.0 - final_factor) * (1.0 - math.sqrt(progress))


def validate_wsd(warmup_steps: int, total_steps: int, decay_steps: int) -> None:
    """Raise ConfigError if the three phases do not fit in `total_steps`."""
    for field, value in (("warmup_steps", warmup_steps), ("decay_steps", decay_steps), ("total_steps", total_steps)):
        check_int(f"model.{field}", value, 0)
    if warmup_steps + decay_steps > total_steps:
        raise ConfigError(
            f"model.warmup_steps={warmup_steps} + model.decay_steps={decay_steps} exceed the {total_steps} training "
            "steps: warmup and decay must fit inside trainer.max_steps"
        )
