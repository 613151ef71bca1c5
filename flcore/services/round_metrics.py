"""Prometheus families recorded with each round, in the worker process that records it.

Labelled by `strategy` and `runtime` only, never by execution: both come from closed sets
(the strategy catalogue with FLCORE_STRATEGY_PLUGINS, and the two runtimes; anything else
is `other`), so the number of series stays the same however many executions run. What
one execution does now (its round, loss, clients, epsilon) is in execution_gauges.py.

In multi-process mode (PROMETHEUS_MULTIPROC_DIR) every process writes these to its own
files, and the scrape sums them (fedplane/ops/metrics.py).
"""
from __future__ import annotations

from django.conf import settings
from prometheus_client import Counter, Histogram

from ..choices import Algorithm, Runtime
from ..runtime.records import RoundRecord

__all__ = ["execution_labels", "observe_round", "observe_failed_round"]

_LABELS = ["strategy", "runtime"]
_ROUND_BUCKETS = (0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600)
_AGGREGATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_CLIENT_BUCKETS = (0, 1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 10000)

ROUNDS = Counter("fedplane_fl_rounds", "Rounds recorded, by outcome (accepted, rejected by validation, failed)",
                 [*_LABELS, "outcome"])
ROUND_SECONDS = Histogram("fedplane_fl_round_duration_seconds",
                          "Seconds of a round, from waiting for clients to its evaluation", _LABELS,
                          buckets=_ROUND_BUCKETS)
AGGREGATION_SECONDS = Histogram("fedplane_fl_aggregation_seconds",
                                "Seconds the strategy took to screen and aggregate a round's updates", _LABELS,
                                buckets=_AGGREGATION_BUCKETS)
ROUND_CLIENTS = Histogram("fedplane_fl_round_clients",
                          "Clients per round: participating (an update aggregated), lost (no reply), straggling "
                          "(far behind the median, or timed out)", [*_LABELS, "state"], buckets=_CLIENT_BUCKETS)
UPDATES = Counter("fedplane_fl_updates", "Client train updates, by result (accepted, rejected by screening, "
                  "error reply)", [*_LABELS, "result"])
UPDATE_BYTES = Counter("fedplane_fl_update_bytes", "Bytes of model arrays received in client train updates",
                       _LABELS)


def execution_labels(algorithm: str, runtime: str) -> tuple[str, str]:
    """(strategy, runtime) label values, from closed sets."""
    strategies = set(Algorithm.values) | set(settings.FLCORE_STRATEGY_PLUGINS)
    return (algorithm if algorithm in strategies else "other",
            runtime if runtime in Runtime.values else "other")


def _observe_updates(labels: tuple[str, str], record: RoundRecord) -> None:
    received = 0
    for update in record.train:
        result = "error" if update.error else "rejected" if update.rejection else "accepted"
        UPDATES.labels(*labels, result).inc()
        received += update.size_bytes
    UPDATE_BYTES.labels(*labels).inc(received)


def observe_round(labels: tuple[str, str], record: RoundRecord, *, accepted: bool) -> None:
    """Count a round that produced a model (call once its transaction committed)."""
    ROUNDS.labels(*labels, "accepted" if accepted else "rejected").inc()
    timings = record.timings or {}
    if isinstance(timings.get("total"), (int, float)):
        ROUND_SECONDS.labels(*labels).observe(timings["total"])
    if isinstance(timings.get("aggregate"), (int, float)):
        AGGREGATION_SECONDS.labels(*labels).observe(timings["aggregate"])
    participating = sum(1 for u in record.train if not u.error and not u.rejection)
    ROUND_CLIENTS.labels(*labels, "participating").observe(participating)
    ROUND_CLIENTS.labels(*labels, "lost").observe(len(set(record.lost_node_ids)))
    ROUND_CLIENTS.labels(*labels, "straggling").observe(len({s.node_id for s in record.stragglers}))
    _observe_updates(labels, record)


def observe_failed_round(labels: tuple[str, str], record: RoundRecord) -> None:
    """Count a round that failed after training (its updates were received all the same)."""
    ROUNDS.labels(*labels, "failed").inc()
    _observe_updates(labels, record)
