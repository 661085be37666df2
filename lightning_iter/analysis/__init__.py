"""Depth analyses indexed by effective depth.

Depth score, tuned lens, interventions, effects, contributions, similarity (`analyze.py` runs them by name).
"""

from __future__ import annotations

from typing import Any

# Imported on first use (PEP 562), so that `analysis.options` (the CLI's defaults) loads without torch.
_EXPORTS = {
    "ANALYSES": "analyze",
    "AnalysisOptions": "options",
    "Context": "analyze",
    "parse_analyses": "analyze",
    "run_analyses": "analyze",
    "Trace": "trace",
    "run_layer": "trace",
    "sublayers": "trace",
    "trace": "trace",
}

__all__ = [
    "ANALYSES",
    "AnalysisOptions",
    "Context",
    "Trace",
    "parse_analyses",
    "run_analyses",
    "run_layer",
    "sublayers",
    "trace",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # later look-ups are plain attributes
    return value
