"""FedAvg and FedProx on Flower's message API, averaging arrays with fedplane's kernel.

``KernelAggregation`` overrides ``FedAvg.aggregate_train`` only. Subclasses list the
Flower strategy first (``class X(flwr.FedAdam, KernelAggregation)``), so the MRO is
X → FedAdam → FedOpt → KernelAggregation → FedAvg: Flower's optimiser step still
runs, and its ``super().aggregate_train`` call lands on the kernel.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from logging import INFO
from types import MappingProxyType
from typing import Any

from flwr.app import ArrayRecord, Message, MetricRecord
from flwr.serverapp.strategy import FedAvg, FedProx
from flwr.supercore import log

from .aggregate import weighted_average
from .arrays import record_view, to_arrayrecord
from .weights import ProportionalWeights, Weighting

__all__ = ["KernelAggregation", "WeightedFedAvg", "WeightedFedProx"]


class KernelAggregation(FedAvg):
    """FedAvg whose train aggregation uses ``weighted_average`` and a ``Weighting``.

    Reply validation (Flower's ``_check_and_log_replies``) and metric aggregation
    (``train_metrics_aggr_fn``, weighted by ``weighted_by_key``) are Flower's own.
    """

    weighting: Weighting | None = None  # None: proportional to ``weighted_by_key``
    last_weights: Mapping[int, float] = MappingProxyType({})  # node id -> share, last aggregate_train

    def current_weighting(self) -> Weighting:
        """The weighting in force (proportional to ``weighted_by_key`` by default)."""
        return self.weighting or ProportionalWeights(key=self.weighted_by_key)

    def summary(self) -> None:
        """Log the weighting, then Flower's summary."""
        log(INFO, "\t├──> fedplane weights: %s", self.current_weighting().name)
        super().summary()

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Weighted average of the valid replies' arrays; Flower's metric aggregation."""
        valid, _ = self._check_and_log_replies(replies, is_train=True)
        if not valid:
            return None, None
        contents = [msg.content for msg in valid]
        # Validation guarantees exactly one MetricRecord and one ArrayRecord per reply.
        weights = self.current_weighting()([next(iter(c.metric_records.values())) for c in contents])
        # A generator: each reply's arrays are viewed only while they are added.
        updates = (record_view(next(iter(c.array_records.values()))) for c in contents)
        arrays = to_arrayrecord(weighted_average(updates, weights))  # raises on a zero or negative total
        self.last_weights = {m.metadata.src_node_id: w / sum(weights) for m, w in zip(valid, weights)}
        return arrays, self.train_metrics_aggr_fn(contents, self.weighted_by_key)


class WeightedFedAvg(KernelAggregation):
    """Flower FedAvg with a choice of client weights."""

    def __init__(self, *, weighting: Weighting | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.weighting = weighting


class WeightedFedProx(FedProx, KernelAggregation):
    """Flower FedProx: FedAvg on the server, ``proximal-mu`` in the train config.

    The proximal term itself is the client trainer's job.
    """

    def __init__(self, *, weighting: Weighting | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.weighting = weighting
