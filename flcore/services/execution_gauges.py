"""Prometheus gauges of executions, read from the database at scrape time.

Counts by status and the queue need no bound. Series labelled by execution do: they are
given for at most FLCORE_METRICS_EXECUTIONS executions, the running (and stopping) ones
first, newest first, then those that ended within FLCORE_METRICS_RECENT_SECONDS (so a
scrape still sees an execution's last round and final loss). An execution past that
window drops out of the scrape by itself: no series lingers after its execution.
"""
from __future__ import annotations

import math
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, F, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from fedplane.ops.metrics import DatabaseCollector

from ..choices import ExecutionStatus as S
from ..models import TrainingExecution, TrainingRound
from .round_metrics import execution_labels

__all__ = ["ExecutionsCollector", "live_executions"]

_ACTIVE = (S.RUNNING, S.STOPPING)
_ENDED = (S.COMPLETED, S.FAILED, S.STOPPED)
_LABELS = ["execution", "strategy", "runtime"]
_FIELDS = ("id", "algorithm", "runtime", "status", "current_round", "total_rounds", "participating_clients",
           "metrics", "privacy_ledger")
_PER_EXECUTION = {
    "status": ("fedplane_fl_execution_status", "1 for the execution's current status", ["status"]),
    "round": ("fedplane_fl_execution_round", "The last round the execution recorded", []),
    "rounds": ("fedplane_fl_execution_rounds_planned", "Rounds the execution runs in all", []),
    "loss": ("fedplane_fl_execution_loss", "Evaluation loss of the execution's last round", []),
    "accuracy": ("fedplane_fl_execution_accuracy", "Evaluation accuracy of the execution's last round", []),
    "clients": ("fedplane_fl_execution_clients",
                "Clients of the execution's last round: participating, lost, straggling", ["state"]),
    "epsilon": ("fedplane_fl_execution_epsilon_spent", "Differential privacy: epsilon spent so far", []),
    "budget": ("fedplane_fl_execution_epsilon_budget", "Differential privacy: the epsilon budget", []),
}


def _families() -> dict[str, GaugeMetricFamily]:
    families = {
        "executions": GaugeMetricFamily("fedplane_fl_executions", "Executions by status", labels=["status"]),
        "queue": GaugeMetricFamily("fedplane_fl_queue_depth", "Executions queued for a worker slot"),
        "oldest": GaugeMetricFamily("fedplane_fl_queue_oldest_seconds",
                                    "Seconds the oldest queued execution has waited (0: none waits)"),
    }
    for key, (name, doc, extra) in _PER_EXECUTION.items():
        families[key] = GaugeMetricFamily(name, doc, labels=[*_LABELS, *extra])
    return families


def live_executions(now=None) -> list[dict]:
    """The executions given per-execution series, in the order they are chosen."""
    cap = max(0, settings.FLCORE_METRICS_EXECUTIONS)
    if cap == 0:
        return []
    now = now or timezone.now()
    rows = list(TrainingExecution.objects.filter(status__in=_ACTIVE).order_by("-started_at", "-created_at")
                .values(*_FIELDS)[:cap])
    if len(rows) < cap:
        since = now - timedelta(seconds=settings.FLCORE_METRICS_RECENT_SECONDS)
        rows += list(TrainingExecution.objects.filter(status__in=_ENDED, completed_at__gte=since)
                     .order_by("-completed_at").values(*_FIELDS)[:cap - len(rows)])
    return rows


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _epsilon(ledger: dict) -> tuple[float | None, float | None]:
    """(spent, budget) of a privacy ledger; (None, None) without differential privacy."""
    if not ledger or "epsilon" not in ledger:
        return None, None
    spent = ledger.get("epsilon_spent")
    if not isinstance(spent, (int, float)):
        from ..privacy import PrivacyLedger  # dp-accounting: imported only where a ledger lacks the figure

        spent = PrivacyLedger.from_dict(ledger).epsilon_spent
    return float(spent), float(ledger["epsilon"])


def _add_execution(f: dict[str, GaugeMetricFamily], row: dict, last_round: dict | None) -> None:
    labels = [str(row["id"]), *execution_labels(row["algorithm"], row["runtime"])]
    f["status"].add_metric([*labels, row["status"]], 1)
    f["round"].add_metric(labels, row["current_round"])
    f["rounds"].add_metric(labels, row["total_rounds"])
    for key in ("loss", "accuracy"):
        value = _number((row["metrics"] or {}).get(key))
        if value is not None:
            f[key].add_metric(labels, value)
    if last_round is not None:
        f["clients"].add_metric([*labels, "participating"], row["participating_clients"])
        f["clients"].add_metric([*labels, "lost"], len(set(last_round["lost_node_ids"] or [])))
        f["clients"].add_metric([*labels, "straggling"],
                                len({s.get("nodeId") for s in last_round["stragglers"] or []}))
    spent, budget = _epsilon(row["privacy_ledger"])
    if budget is not None:
        f["epsilon"].add_metric(labels, spent)
        f["budget"].add_metric(labels, budget)


class ExecutionsCollector(DatabaseCollector):
    """Registered once per process (flcore/apps.py); only the web's /metrics asks it."""

    def families(self) -> dict[str, GaugeMetricFamily]:
        return _families()

    def read(self) -> dict[str, GaugeMetricFamily]:
        f = _families()
        now = timezone.now()
        by_status = dict(TrainingExecution.objects.order_by().values_list("status").annotate(n=Count("id")))
        for status in S.values:
            f["executions"].add_metric([status], by_status.get(status, 0))
        f["queue"].add_metric([], by_status.get(S.QUEUED, 0))
        oldest = TrainingExecution.objects.filter(status=S.QUEUED).aggregate(at=Min("queued_at"))["at"]
        f["oldest"].add_metric([], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
        rows = live_executions(now)
        last_rounds = {r["execution_id"]: r for r in TrainingRound.objects.filter(
            execution_id__in=[row["id"] for row in rows], round_number=F("execution__current_round"))
            .values("execution_id", "lost_node_ids", "stragglers")}
        for row in rows:
            _add_execution(f, row, last_rounds.get(row["id"]))
        return f
