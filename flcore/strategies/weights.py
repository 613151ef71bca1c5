"""How much each client's update counts in the average: uniform, proportional, performance.

A weighting turns the replies' metrics (one mapping per client, e.g. a reply's
``MetricRecord``) into raw, non-negative weights; the kernel normalises them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from .errors import InvalidStrategyOptions, WeightingError

__all__ = [
    "WEIGHTINGS",
    "PerformanceWeights",
    "ProportionalWeights",
    "UniformWeights",
    "Weighting",
    "make_weighting",
]

Metrics = Mapping[str, object]


class Weighting(Protocol):
    """Raw weight per client, in reply order."""

    name: str

    def __call__(self, metrics: Sequence[Metrics]) -> list[float]: ...


def _number(metrics: Metrics, key: str, index: int) -> float:
    value = metrics.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise WeightingError(f"reply {index}: metric {key!r} must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class UniformWeights:
    """Every client counts the same, whatever its data size (what DP noise assumes)."""

    name: str = "uniform"

    def __call__(self, metrics: Sequence[Metrics]) -> list[float]:
        return [1.0] * len(metrics)


@dataclass(frozen=True)
class ProportionalWeights:
    """Weight = the client's number of training examples (FedAvg's rule)."""

    key: str = "num-examples"
    name: str = "proportional"

    def __call__(self, metrics: Sequence[Metrics]) -> list[float]:
        weights = [_number(m, self.key, i) for i, m in enumerate(metrics)]
        if any(w < 0 for w in weights):
            raise WeightingError(f"{self.key!r} must not be negative: {weights}")
        return weights


@dataclass(frozen=True)
class PerformanceWeights:
    """Weight = the client's score on ``metric``, clipped at zero, then normalised.

    The rule: wᵢ = max(sᵢ, 0) / Σⱼ max(sⱼ, 0), where sᵢ is the metric in client i's
    train reply (``train-accuracy`` from fedplane's ClientApp by default). With
    ``higher_is_better=False`` (a loss) the score is 1 / (sᵢ + 1e-12) instead. If every
    score is zero, all clients count equally rather than dividing by zero.
    """

    metric: str = "train-accuracy"
    higher_is_better: bool = True
    name: str = "performance"

    def __call__(self, metrics: Sequence[Metrics]) -> list[float]:
        scores = [_number(m, self.metric, i) for i, m in enumerate(metrics)]
        if not self.higher_is_better:
            scores = [1.0 / (max(s, 0.0) + 1e-12) for s in scores]
        weights = [max(s, 0.0) for s in scores]
        return weights if sum(weights) > 0 else [1.0] * len(weights)


WEIGHTINGS = ("uniform", "proportional", "performance")


def make_weighting(
    name: str, *, metric: str = "train-accuracy", higher_is_better: bool = True, key: str = "num-examples"
) -> Weighting:
    """The weighting called ``name`` (one of ``WEIGHTINGS``)."""
    if name == "uniform":
        return UniformWeights()
    if name == "proportional":
        return ProportionalWeights(key=key)
    if name == "performance":
        return PerformanceWeights(metric=metric, higher_is_better=higher_is_better)
    raise InvalidStrategyOptions(f"unknown weights {name!r}; known: {', '.join(WEIGHTINGS)}")
