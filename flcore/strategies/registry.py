"""Build a strategy from an execution's algorithm name, options and weights.

Built in: ``fedavg``, ``fedprox``, ``fedopt`` (``optimizer`` adam|yogi|adagrad).
Plug-ins: ``plugins`` maps a name to ``"pkg.module:Class"`` or ``"pkg.module.Class"``,
a Flower ``Strategy`` subclass built with ``**options`` (plus ``weighting=`` when it
derives from ``KernelAggregation``). Settings supply the mapping
(``FLCORE_STRATEGY_PLUGINS``); this module never reads them itself.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from flwr.serverapp.strategy import Strategy

from .errors import InvalidStrategyOptions, PluginLoadError, UnknownStrategy
from .fedavg import KernelAggregation, WeightedFedAvg, WeightedFedProx
from .fedopt import WeightedFedAdagrad, WeightedFedAdam, WeightedFedYogi
from .weights import make_weighting

__all__ = ["BUILTIN", "OPTIMIZERS", "build_strategy", "load_plugin"]

BUILTIN = ("fedavg", "fedprox", "fedopt")
OPTIMIZERS: dict[str, type[KernelAggregation]] = {
    "adam": WeightedFedAdam,
    "yogi": WeightedFedYogi,
    "adagrad": WeightedFedAdagrad,
}
_SAMPLING = {"fraction_train", "fraction_evaluate", "min_train_nodes", "min_evaluate_nodes", "min_available_nodes"}
_ALLOWED = {
    "fedavg": _SAMPLING,
    "fedprox": _SAMPLING | {"proximal_mu"},
    "fedopt": _SAMPLING | {"optimizer", "eta", "eta_l", "beta_1", "beta_2", "tau"},
}
# Options read here to build the weighting, never passed to a strategy class.
_WEIGHT_OPTIONS = {"performance_metric", "performance_higher_is_better"}


def load_plugin(path: str) -> type[Strategy]:
    """Import ``"pkg.module:Class"`` or ``"pkg.module.Class"``; it must be a Strategy class."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise PluginLoadError(f"plug-in path {path!r} is not 'pkg.module:Class' or 'pkg.module.Class'")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as err:
        raise PluginLoadError(f"cannot load plug-in {path!r}: {err}") from err
    if not (inspect.isclass(target) and issubclass(target, Strategy)) or inspect.isabstract(target):
        raise PluginLoadError(f"plug-in {path!r} is not a concrete flwr.serverapp.strategy.Strategy class")
    return target


def _check(algorithm: str, options: Mapping[str, Any]) -> None:
    unknown = set(options) - _ALLOWED[algorithm]
    if unknown:
        raise InvalidStrategyOptions(
            f"{algorithm} does not take {sorted(unknown)}; allowed: {sorted(_ALLOWED[algorithm])}"
        )


def build_strategy(
    algorithm: str,
    *,
    options: Mapping[str, Any] | None = None,
    weights: str = "proportional",
    plugins: Mapping[str, str] | None = None,
) -> Strategy:
    """A ready strategy object; raises ``UnknownStrategy`` or ``InvalidStrategyOptions``."""
    plugins = plugins or {}
    opts = dict(options or {})
    weighting = make_weighting(
        weights,
        metric=str(opts.pop("performance_metric", "train-accuracy")),
        higher_is_better=bool(opts.pop("performance_higher_is_better", True)),
    )
    if algorithm in plugins:
        cls = load_plugin(plugins[algorithm])
        extra = {"weighting": weighting} if issubclass(cls, KernelAggregation) else {}
        try:
            return cls(**opts, **extra)
        except TypeError as err:  # an option the plug-in's constructor does not take
            raise InvalidStrategyOptions(f"plug-in {algorithm!r}: {err}") from err
    if algorithm not in BUILTIN:
        raise UnknownStrategy(algorithm, [*BUILTIN, *plugins])
    _check(algorithm, opts)
    if algorithm == "fedavg":
        return WeightedFedAvg(weighting=weighting, **opts)
    if algorithm == "fedprox":
        return WeightedFedProx(weighting=weighting, **opts)
    optimizer = str(opts.pop("optimizer", "adam")).lower()
    if optimizer not in OPTIMIZERS:
        raise InvalidStrategyOptions(f"unknown optimizer {optimizer!r}; known: {', '.join(OPTIMIZERS)}")
    if optimizer == "adagrad" and {"beta_1", "beta_2"} & opts.keys():
        raise InvalidStrategyOptions("adagrad has no beta_1/beta_2 (Flower fixes them at 0)")
    return OPTIMIZERS[optimizer](weighting=weighting, **opts)
