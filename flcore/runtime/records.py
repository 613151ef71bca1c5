"""Typed records the driver hands to fedplane (plain data, no Flower types)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = ["REPLY_INFO_KEY", "ClientUpdate", "ExecutionResult", "Metric", "RoundDirective", "RoundRecord",
           "RoundSettings", "Straggler"]

# A metric value as Flower's MetricRecord holds it.
Metric = int | float | list[int] | list[float]

# ConfigRecord in fedplane ClientApp replies: {"node-config": json, "seconds": float}.
REPLY_INFO_KEY = "fedplane"


@dataclass
class ClientUpdate:
    """One node's reply in one phase (train or evaluate) of a round."""

    node_id: int
    node_config: dict[str, Any]
    num_examples: int
    metrics: dict[str, Metric]
    seconds: float  # ClientApp handler time if reported, else push-to-reply time
    error: str | None = None
    rejection: str | None = None  # the server kept this update out of the aggregate (NaN, wrong shape, ...)
    size_bytes: int = 0  # the arrays the reply carried (a train update's model), as received

    @property
    def client_id(self) -> str | None:
        """fedplane client id from the SuperNode's ``--node-config``, if set."""
        value = self.node_config.get("fedplane-client-id")
        return None if value is None else str(value)

    @property
    def partition_id(self) -> int | None:
        """A simulation's virtual client: Flower's ``partition-id`` node config."""
        value = self.node_config.get("partition-id")
        return None if value is None else int(value)


@dataclass(frozen=True)
class Straggler:
    """A sampled node that answered far behind the others, or not before the round timeout."""

    node_id: int
    phase: str  # train | evaluate
    seconds: float | None  # push-to-reply; None: no reply before the timeout
    late_by_seconds: float  # behind the phase's median reply (at least, when timed out)
    timed_out: bool
    partition_id: int | None = None  # a simulation's virtual client, when known


@dataclass(frozen=True)
class RoundSettings:
    """What an operator may change between rounds of a running training.

    ``timeout``: seconds a phase waits for replies. ``min_responders``: good replies a
    phase needs (None: the execution's ``min_clients``). ``accepted_failure_fraction``:
    share of the sampled nodes that may fail (error or no reply) before the round fails.
    """

    timeout: float = 600.0
    min_responders: int | None = None
    accepted_failure_fraction: float = 1.0


@dataclass
class RoundRecord:
    """Everything fedplane stores about a finished round."""

    run_id: int
    round_number: int
    node_ids: list[int]  # nodes sampled for training
    train: list[ClientUpdate]
    evaluate: list[ClientUpdate]
    arrays: dict[str, np.ndarray]  # aggregated global model after the round
    train_metrics: dict[str, Metric]
    evaluate_metrics: dict[str, Metric]
    lost_node_ids: list[int] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase
    stragglers: list[Straggler] = field(default_factory=list)
    settings: RoundSettings | None = None  # the settings the round ran with


@dataclass(frozen=True)
class RoundDirective:
    """An operator's say over one round (a manual aggregation trigger).

    ``client_ids``: only these fedplane clients are sampled and aggregated (None: the
    execution's own). ``wait_for_all``: wait until every one of them is connected,
    sample them all and aggregate only when all replied; otherwise aggregate whatever
    replies came in by the round timeout (at least one).
    """

    client_ids: frozenset[str] | None = None
    wait_for_all: bool = False


@dataclass
class ExecutionResult:
    """How a run ended and the final global model."""

    run_id: int
    status: Literal["completed", "stopped"]
    last_round: int
    arrays: dict[str, np.ndarray]
    rounds: list[RoundRecord]
