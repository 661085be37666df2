"""Depth strategies and their registry (DESIGN.md §3).

from lightning_iter.depth import register_strategy, get_strategy, list_strategies, GrowOperator
"""

from .base import DepthStrategy, GrowOperator, StaticStrategy
from .grow import LIDAS, MIDAS
from .registry import ENTRY_POINT_GROUP, get_strategy, list_strategies, register_strategy, strategy_class
from .retrofit import Retrofit
from .schedule import prop_alpha, stage_boundaries
from .static import Baseline, Loop, loop_plan
from .transaction import grow_layers, sort_param_groups, untie_layers

__all__ = [
    "ENTRY_POINT_GROUP",
    "LIDAS",
    "MIDAS",
    "Baseline",
    "DepthStrategy",
    "GrowOperator",
    "Loop",
    "Retrofit",
    "StaticStrategy",
    "get_strategy",
    "grow_layers",
    "list_strategies",
    "loop_plan",
    "prop_alpha",
    "register_strategy",
    "sort_param_groups",
    "stage_boundaries",
    "strategy_class",
    "untie_layers",
]
