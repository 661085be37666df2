"""Lightning callbacks: `DepthSchedule` (the only thing that changes a model during fit) and the eval/analysis ones.

YAML names them by the short path, e.g. `class_path: lightning_iter.callbacks.PrimitivesEval`.
"""

from .depth_analysis import DepthAnalysis
from .depth_schedule import DepthSchedule
from .primitives_eval import PrimitivesEval

__all__ = ["DepthAnalysis", "DepthSchedule", "PrimitivesEval"]
