"""An execution's strategy options: from its config to Flower's keywords, checked at the door.

``config.strategyOptions`` holds the options (camelCase, see ``GET /fl/strategies``);
the older flat keys still apply: ``proximalMu`` (FedProx), ``optimizer`` (FedOpt) and
``serverLearningRate`` (the FedOpt family's ``eta``, FedAvgM's server learning rate).
"""
from __future__ import annotations

from typing import Any

from django.conf import settings

from fedplane.api.errors import DomainError, ErrorCode

from ..errors import InsufficientClients
from ..strategies.catalogue import StrategySpec, flower_kwargs, min_updates_of, resolve
from ..strategies.errors import InvalidStrategyOptions, StrategyError

__all__ = ["check_strategy", "spec_of", "strategy_kwargs"]

_FIELD = "config.strategyOptions"


def spec_of(algorithm: str, config: dict[str, Any]) -> StrategySpec | None:
    """The catalogue entry the execution runs (None for a plug-in)."""
    if algorithm in settings.FLCORE_STRATEGY_PLUGINS:
        return None
    return resolve(algorithm, config.get("optimizer"))


def _api_options(spec: StrategySpec, config: dict[str, Any]) -> dict[str, Any]:
    given = dict(config.get("strategyOptions") or {})
    legacy = {"proximalMu": config.get("proximalMu"),
              "eta" if spec.option("eta") else "serverLearningRate": config.get("serverLearningRate")}
    if spec.name == "qfedavg":
        legacy |= {"clientLearningRate": float(config.get("learningRate", 0.05)), "trainLossKey": "train-loss"}
    return {**{k: v for k, v in legacy.items() if v is not None and spec.option(k)}, **given}


def _resolved(algorithm: str, config: dict[str, Any]) -> tuple[StrategySpec | None, str, dict[str, Any]]:
    spec = spec_of(algorithm, config)
    if spec is None:  # a plug-in takes its own constructor's keywords, as given
        return None, algorithm, dict(config.get("strategyOptions") or {})
    return spec, spec.name, flower_kwargs(spec, _api_options(spec, config))


def strategy_kwargs(algorithm: str, config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The strategy's name as the registry builds it and its Flower keywords (sampling aside)."""
    _, name, kwargs = _resolved(algorithm, config)
    return name, kwargs


def check_strategy(algorithm: str, config: dict[str, Any]) -> None:
    """Refuse options the strategy does not take, and too few clients for its Byzantine assumption."""
    from ..strategies.registry import build_strategy

    try:
        spec, name, kwargs = _resolved(algorithm, config)
        build_strategy(name, options=kwargs, plugins=settings.FLCORE_STRATEGY_PLUGINS)
    except InvalidStrategyOptions as err:
        field = f"{_FIELD}.{err.field}" if err.field else _FIELD
        raise DomainError(str(err), code=ErrorCode.VALIDATION_ERROR, status=422, details={field: str(err)}) from err
    except StrategyError as err:
        raise DomainError(str(err), code=ErrorCode.VALIDATION_ERROR, status=422, details={_FIELD: str(err)}) from err
    if spec is None:
        return
    needed = min_updates_of(spec, kwargs)
    floor = min(int(config["minClients"]), int(config.get("minResponders") or config["minClients"]))
    if floor < needed:
        raise InsufficientClients(
            f"{spec.name} with numMaliciousNodes={kwargs.get('num_malicious_nodes', 0)} needs at least {needed} "
            f"updates a round; minClients/minResponders allow {floor}.",
            details={"algorithm": spec.name, "numMaliciousNodes": kwargs.get("num_malicious_nodes", 0),
                     "required": needed, "minClients": int(config["minClients"])})
