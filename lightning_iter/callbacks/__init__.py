"""Lightning callbacks: `DepthSchedule` (the only thing that changes a model during fit), the eval/analysis ones, and
`RunCheckpoint` / `AtomicCheckpointIO` (checkpoint files; `fit` installs them, see checkpointing.py) and
`TrainingThroughput` (tokens/s, MFU, gradient norm; LanguageModel installs it).

YAML names them by the short path, e.g. `class_path: lightning_iter.callbacks.PrimitivesEval`.
"""

from .checkpointing import AtomicCheckpointIO, RunCheckpoint
from .depth_analysis import DepthAnalysis
from .depth_schedule import DepthSchedule
from .primitives_eval import PrimitivesEval
from .throughput import TrainingThroughput

__all__ = [
    "AtomicCheckpointIO",
    "DepthAnalysis",
    "DepthSchedule",
    "PrimitivesEval",
    "RunCheckpoint",
    "TrainingThroughput",
]
