"""Error types for bad input: each carries one clear message naming the field, the value and what is allowed.

The CLI prints these as a single line (no traceback) and exits with status 2.
"""

from __future__ import annotations


class LightningIterError(ValueError):
    """Base class for every user-facing input error of lightning_iter."""


class ConfigError(LightningIterError):
    """A configuration field has a value that is not allowed."""


class PlanError(LightningIterError):
    """A layer plan refers to layers the model does not have, or is otherwise malformed."""


class UnknownStrategyError(LightningIterError):
    """A depth strategy name is not registered."""


class CheckpointError(LightningIterError):
    """A checkpoint does not belong to the model being built, or is malformed."""
