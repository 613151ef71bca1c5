"""Build a strategy from an execution's algorithm name, options and weights.

Built in: the catalogue (``catalogue.CATALOGUE``: FedAvg, FedProx, the FedOpt family,
FedAvgM, the robust ones, QFedAvg) and ``fedopt`` (``optimizer`` adam|yogi|adagrad).
Options here are Flower's keywords; ``catalogue.flower_kwargs`` makes them from the API's.
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

from .catalogue import CATALOGUE, FEDOPT_MEMBERS, SAMPLING, StrategySpec, resolve
from .errors import InvalidStrategyOptions, PluginLoadError, UnknownStrategy
from .fedavg import KernelAggregation
from .weights import make_weighting

__all__ = ["BUILTIN", "OPTIMIZERS", "build_strategy", "load_plugin"]

BUILTIN = (*CATALOGUE, "fedopt")
OPTIMIZERS: dict[str, type[KernelAggregation]] = {
    name: CATALOGUE[member].cls for name, member in FEDOPT_MEMBERS.items()  # type: ignore[misc]
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


def _check(spec: StrategySpec, options: Mapping[str, Any]) -> None:
    allowed = {*SAMPLING, *(option.kwarg for option in spec.options)}
    unknown = set(options) - allowed
    if unknown:
        raise InvalidStrategyOptions(f"{spec.name} does not take {sorted(unknown)}; allowed: {sorted(allowed)}")


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
    spec = resolve(algorithm, opts.pop("optimizer", None) if algorithm == "fedopt" else None)
    _check(spec, opts)
    missing = [kwarg for kwarg in spec.required if kwarg not in opts]
    if missing:
        raise InvalidStrategyOptions(f"{spec.name} needs {missing}")
    if spec.weighted:
        return spec.cls(weighting=weighting, **opts)
    if weights not in ("proportional", "uniform"):
        raise InvalidStrategyOptions(f"{spec.name} counts every update once: client weights {weights!r} do not apply")
    return spec.cls(**opts)
