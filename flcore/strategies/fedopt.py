"""FedAdam, FedYogi and FedAdagrad: Flower's server optimiser on top of the kernel.

The optimiser step (delta, m_t, v_t, the update) is Flower's code, untouched; only
the weighted average it starts from comes from ``KernelAggregation``.
"""

from __future__ import annotations

from typing import Any

from flwr.serverapp.strategy import FedAdagrad, FedAdam, FedYogi

from .fedavg import KernelAggregation
from .weights import Weighting

__all__ = ["WeightedFedAdagrad", "WeightedFedAdam", "WeightedFedYogi"]


class WeightedFedAdam(FedAdam, KernelAggregation):
    """Flower FedAdam (bias-corrected server Adam) with a choice of client weights."""

    def __init__(self, *, weighting: Weighting | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.weighting = weighting


class WeightedFedYogi(FedYogi, KernelAggregation):
    """Flower FedYogi with a choice of client weights."""

    def __init__(self, *, weighting: Weighting | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.weighting = weighting


class WeightedFedAdagrad(FedAdagrad, KernelAggregation):
    """Flower FedAdagrad with a choice of client weights."""

    def __init__(self, *, weighting: Weighting | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.weighting = weighting
