"""Every strategy fedplane builds by name, with the options each takes.

An execution names its strategy in ``algorithm`` and its options, camelCase, in
``config.strategyOptions``; ``flower_kwargs`` checks them (type, range, which apply)
and translates them to the Flower constructor's keywords. Defaults are Flower's own,
read from the constructor so this table cannot drift from the pinned Flower.
Plain Python: no Django imports.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flwr.serverapp.strategy import Strategy

from .errors import InvalidStrategyOptions, UnknownStrategy
from .fedavg import WeightedFedAvg, WeightedFedProx
from .fedopt import WeightedFedAdagrad, WeightedFedAdam, WeightedFedYogi
from .robust import (FedplaneBulyan, FedplaneFedMedian, FedplaneFedTrimmedAvg, FedplaneKrum, FedplaneMultiKrum,
                     FedplaneQFedAvg, WeightedFedAvgM, min_updates)

__all__ = ["CATALOGUE", "SAMPLING", "Option", "StrategySpec", "describe", "flower_kwargs", "min_updates_of",
           "resolve"]

# Set by fedplane from the execution (clientFraction, minClients), never by strategyOptions.
SAMPLING = ("fraction_train", "fraction_evaluate", "min_train_nodes", "min_evaluate_nodes", "min_available_nodes")


@dataclass(frozen=True)
class Option:
    """One strategy option: its API name, Flower keyword, type and bounds."""

    name: str
    kwarg: str
    kind: type
    doc: str
    low: float | None = None
    high: float | None = None
    high_open: bool = False  # high itself is not allowed
    low_open: bool = False

    def parse(self, value: Any) -> Any:
        if self.kind is str:
            if not isinstance(value, str) or not value or len(value) > 64:
                raise InvalidStrategyOptions(f"{self.name} must be a non-empty string of at most 64 characters",
                                             field=self.name)
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidStrategyOptions(f"{self.name} must be a number", field=self.name)
        if self.kind is int and (not float(value).is_integer()):
            raise InvalidStrategyOptions(f"{self.name} must be an integer", field=self.name)
        number = int(value) if self.kind is int else float(value)
        if not math.isfinite(number) or not self._within(number):
            raise InvalidStrategyOptions(f"{self.name} must be {self.bounds()}", field=self.name)
        return number

    def _within(self, number: float) -> bool:
        low_ok = self.low is None or (number > self.low if self.low_open else number >= self.low)
        high_ok = self.high is None or (number < self.high if self.high_open else number <= self.high)
        return low_ok and high_ok

    def bounds(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {self.high:g}")
        return " and ".join(parts) or "finite"


@dataclass(frozen=True)
class StrategySpec:
    """A strategy by name: its class, options, and what fedplane knows of it."""

    name: str
    cls: type[Strategy]
    summary: str
    options: tuple[Option, ...] = ()
    weighted: bool = False  # takes fedplane's client weights (proportional, uniform, performance)
    mean_based: bool = False  # its model is a (weighted) mean of the updates: SecAgg+ and DP can apply
    byzantine_robust: bool = False
    checkpoint_state: tuple[str, ...] = ()  # attributes a resume restores (optimiser state)
    required: tuple[str, ...] = ()  # options without a Flower default

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)

    def default(self, option: Option) -> Any:
        """Flower's default for the option (None when Flower has none)."""
        for klass in self.cls.__mro__:
            if klass.__module__.startswith("flwr.") and "__init__" in vars(klass):
                parameter = inspect.signature(klass.__init__).parameters.get(option.kwarg)
                if parameter is not None:
                    return None if parameter.default is inspect.Parameter.empty else parameter.default
        return None


_MALICIOUS = Option("numMaliciousNodes", "num_malicious_nodes", int,
                    "f, the malicious clients the aggregation must withstand", low=0, high=10_000)


def _fedopt_options(*, betas: bool) -> tuple[Option, ...]:
    options = [Option("eta", "eta", float, "server learning rate", low=0, low_open=True, high=1e6),
               Option("etaL", "eta_l", float, "client learning rate Flower sends in the train config", low=0,
                      low_open=True, high=1e6),
               Option("tau", "tau", float, "adaptivity: smallest denominator of the update", low=0,
                      low_open=True, high=1e6)]
    if betas:
        options += [Option("beta1", "beta_1", float, "first-moment decay", low=0, high=1, high_open=True),
                    Option("beta2", "beta_2", float, "second-moment decay", low=0, high=1, high_open=True)]
    return tuple(options)


_OPTIMISER_STATE = ("current_arrays", "m_t", "v_t")
CATALOGUE: dict[str, StrategySpec] = {spec.name: spec for spec in (
    StrategySpec("fedavg", WeightedFedAvg, "weighted mean of the updates (McMahan et al., 2017)",
                 weighted=True, mean_based=True),
    StrategySpec("fedprox", WeightedFedProx, "FedAvg; clients add a proximal term mu/2 |w - w_global|^2",
                 (Option("proximalMu", "proximal_mu", float, "mu, sent to clients as proximal-mu", low=0, high=1e6),),
                 weighted=True, mean_based=True),
    StrategySpec("fedadam", WeightedFedAdam, "server Adam on the mean update (Reddi et al., 2021)",
                 _fedopt_options(betas=True), weighted=True, mean_based=True, checkpoint_state=_OPTIMISER_STATE),
    StrategySpec("fedyogi", WeightedFedYogi, "server Yogi on the mean update (Reddi et al., 2021)",
                 _fedopt_options(betas=True), weighted=True, mean_based=True, checkpoint_state=_OPTIMISER_STATE),
    StrategySpec("fedadagrad", WeightedFedAdagrad, "server Adagrad on the mean update (Reddi et al., 2021)",
                 _fedopt_options(betas=False), weighted=True, mean_based=True, checkpoint_state=_OPTIMISER_STATE),
    StrategySpec("fedavgm", WeightedFedAvgM, "FedAvg with server momentum (Hsu et al., 2019)",
                 (Option("serverLearningRate", "server_learning_rate", float, "server step size", low=0,
                         low_open=True, high=1e6),
                  Option("serverMomentum", "server_momentum", float, "server momentum", low=0, high=1,
                         high_open=True)),
                 weighted=True, mean_based=True, checkpoint_state=("momentum_vector",)),
    StrategySpec("fedmedian", FedplaneFedMedian, "coordinate-wise median (Yin et al., 2018)",
                 byzantine_robust=True),
    StrategySpec("fedtrimmedavg", FedplaneFedTrimmedAvg,
                 "coordinate-wise mean without the beta share at each end (Yin et al., 2018)",
                 (Option("beta", "beta", float, "share cut at each end", low=0, high=0.5, high_open=True),),
                 byzantine_robust=True),
    StrategySpec("krum", FedplaneKrum, "the update closest to its n - f - 2 neighbours (Blanchard et al., 2017)",
                 (_MALICIOUS,), byzantine_robust=True),
    StrategySpec("multikrum", FedplaneMultiKrum, "mean of the m best Krum-scored updates",
                 (_MALICIOUS, Option("numNodesToSelect", "num_nodes_to_select", int, "m, updates averaged", low=1,
                                     high=10_000)), byzantine_robust=True),
    StrategySpec("bulyan", FedplaneBulyan, "Krum selection, then a trimmed mean around the median "
                 "(El Mhamdi et al., 2018)", (_MALICIOUS,), byzantine_robust=True),
    StrategySpec("qfedavg", FedplaneQFedAvg, "fair FedAvg: clients with a higher loss weigh more (Li et al., 2020)",
                 (Option("q", "q", float, "fairness: 0 is FedAvg-like, larger favours the worst clients", low=0,
                         high=1e3),
                  Option("clientLearningRate", "client_learning_rate", float,
                         "the clients' learning rate, for the Lipschitz estimate 1/lr (default: config.learningRate)",
                         low=0, low_open=True, high=1e6),
                  Option("trainLossKey", "train_loss_key", str,
                         "train metric holding the loss (fedplane's ClientApps send train-loss)")),
                 required=("client_learning_rate",)),
)}
# fedplane's first name for the FedOpt family: config.optimizer picks the member.
FEDOPT_MEMBERS = {"adam": "fedadam", "yogi": "fedyogi", "adagrad": "fedadagrad"}


def resolve(algorithm: str, optimizer: str | None = None) -> StrategySpec:
    """The spec of ``algorithm`` (``fedopt`` resolves to its optimiser's member, Adam by default)."""
    if algorithm == "fedopt":
        member = FEDOPT_MEMBERS.get(str(optimizer or "adam").lower())
        if member is None:
            raise InvalidStrategyOptions(f"unknown optimizer {optimizer!r}; known: {', '.join(FEDOPT_MEMBERS)}",
                                         field="optimizer")
        return CATALOGUE[member]
    if algorithm not in CATALOGUE:
        raise UnknownStrategy(algorithm, [*CATALOGUE, "fedopt"])
    return CATALOGUE[algorithm]


def flower_kwargs(spec: StrategySpec, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` (API names) checked and translated to Flower keywords."""
    unknown = sorted(name for name in options if spec.option(name) is None)
    if unknown:
        allowed = [o.name for o in spec.options]
        raise InvalidStrategyOptions(f"{spec.name} does not take {unknown}; it takes {allowed or 'no options'}",
                                     field=unknown[0])
    return {spec.option(name).kwarg: spec.option(name).parse(value) for name, value in options.items()}


def min_updates_of(spec: StrategySpec, kwargs: Mapping[str, Any]) -> int:
    """Valid updates a round must aggregate for the strategy's assumption (1 for most)."""
    needed = min_updates(spec.name, int(kwargs.get("num_malicious_nodes", 0)))
    if spec.name == "multikrum":
        needed = max(needed, int(kwargs.get("num_nodes_to_select", 1)))
    return needed


def describe() -> list[dict[str, Any]]:
    """The catalogue as the API and the docs show it."""
    return [{"name": spec.name, "summary": spec.summary, "clientWeights": spec.weighted,
             "byzantineRobust": spec.byzantine_robust, "meanBased": spec.mean_based,
             "checkpointState": list(spec.checkpoint_state),
             "options": [{"name": o.name, "type": o.kind.__name__, "range": o.bounds() if o.kind is not str else None,
                          "default": spec.default(o), "description": o.doc} for o in spec.options]}
            for spec in CATALOGUE.values()]
