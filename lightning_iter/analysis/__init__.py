"""Depth analyses indexed by effective depth.

Depth score, tuned lens, interventions, effects, contributions, similarity (`analyze.py` runs them by name).
"""

from .analyze import ANALYSES, AnalysisOptions, Context, parse_analyses, run_analyses
from .trace import Trace, run_layer, sublayers, trace

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
