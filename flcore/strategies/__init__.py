"""fedplane's federated strategies: Flower's message-API strategies with a fast,
memory-lean weighted average, selectable client weights, a plug-in registry and
checkpointable optimiser state. Plain Python: no Django imports here."""

from .aggregate import BLOCK, GROUP, THREADS, accumulator_dtype, weighted_average
from .arrays import array_view, record_view, to_arrayrecord
from .errors import (
    AggregationMismatch,
    InvalidStrategyOptions,
    PluginLoadError,
    StrategyError,
    UnknownStrategy,
    WeightingError,
)
from .fedavg import KernelAggregation, WeightedFedAvg, WeightedFedProx
from .fedopt import WeightedFedAdagrad, WeightedFedAdam, WeightedFedYogi
from .registry import BUILTIN, OPTIMIZERS, build_strategy, load_plugin
from .state import restore_strategy_state, strategy_state
from .weights import WEIGHTINGS, PerformanceWeights, ProportionalWeights, UniformWeights, Weighting, make_weighting

__all__ = [
    "BLOCK",
    "BUILTIN",
    "GROUP",
    "THREADS",
    "OPTIMIZERS",
    "WEIGHTINGS",
    "AggregationMismatch",
    "InvalidStrategyOptions",
    "KernelAggregation",
    "PerformanceWeights",
    "PluginLoadError",
    "ProportionalWeights",
    "StrategyError",
    "UniformWeights",
    "UnknownStrategy",
    "WeightedFedAdagrad",
    "WeightedFedAdam",
    "WeightedFedAvg",
    "WeightedFedProx",
    "WeightedFedYogi",
    "Weighting",
    "WeightingError",
    "accumulator_dtype",
    "array_view",
    "build_strategy",
    "load_plugin",
    "make_weighting",
    "record_view",
    "restore_strategy_state",
    "strategy_state",
    "to_arrayrecord",
    "weighted_average",
]
