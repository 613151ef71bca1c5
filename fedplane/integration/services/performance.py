"""Performance overview from stored metrics: GET /integration/performance.

Everything is aggregated by the database. Percentiles, which SQLite has no function for,
read the one or two rows at the rank (ORDER BY ... LIMIT 2 OFFSET k), and follow each
app's own endpoint so the numbers agree: linear interpolation for module load times (as
GET /federation/modules/{id}/metrics), nearest rank for request latency (as GET /metrics).
"""
from __future__ import annotations

from datetime import timedelta

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Max, Min, OuterRef, Q, QuerySet, \
    Subquery, Sum
from django.utils import timezone

from fedplane.api.errors import DomainError, ErrorCode
from federation_registry.choices import MetricKind
from federation_registry.models import ModuleMetric
from flcore.choices import ExecutionStatus, RoundStatus, UpdatePhase
from flcore.models import ClientUpdate, PerformanceMetric, TrainingExecution, TrainingRound
from regions.models import RequestMetric

__all__ = ["PERIODS", "SYSTEMS", "performance_overview", "percentile_linear", "percentile_nearest"]

PERIODS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
SYSTEMS = ("federation", "fl", "both")
RUNNING_LISTED = 50
_LIVE = (ExecutionStatus.RUNNING, ExecutionStatus.STOPPING)


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


def percentile_linear(rows: QuerySet, field: str, q: float, count: int) -> float | None:
    """numpy's default percentile (linear between closest ranks) of `field` over `count` rows."""
    if not count:
        return None
    pos = (count - 1) * q
    low = int(pos)
    pair = list(rows.order_by(field).values_list(field, flat=True)[low:low + 2])
    high = pair[1] if len(pair) > 1 else pair[0]
    return pair[0] + (high - pair[0]) * (pos - low)


def percentile_nearest(rows: QuerySet, field: str, percent: int, count: int) -> float | None:
    """Nearest-rank percentile: the ceil(n * p / 100)-th smallest value."""
    if not count:
        return None
    rank = max(1, -(-count * percent // 100))
    return rows.order_by(field).values_list(field, flat=True)[rank - 1]


def _federation(since) -> dict:
    rows = ModuleMetric.objects.filter(created_at__gte=since)
    timed = rows.filter(success=True, load_time__isnull=False)
    totals = rows.aggregate(
        total=Count("id"), errors=Count("id", filter=Q(success=False)),
        loads=Count("id", filter=Q(kind=MetricKind.LOAD)), telemetry=Count("id", filter=Q(kind=MetricKind.TELEMETRY)),
        modules=Count("module", distinct=True),
        samples=Count("id", filter=Q(success=True, load_time__isnull=False)),
        avg=Avg("load_time", filter=Q(success=True, load_time__isnull=False)))
    n = totals["samples"]
    slowest = timed.values("module_id", "module__name").annotate(avg=Avg("load_time"), samples=Count("id")) \
        .order_by("-avg", "module__name")[:5]
    return {
        "requests": {"total": totals["total"], "load": totals["loads"], "telemetry": totals["telemetry"]},
        "errors": {"count": totals["errors"],
                   "rate": _r(totals["errors"] / totals["total"], 4) if totals["total"] else 0.0},
        "loadTime": {"p50": _r(percentile_linear(timed, "load_time", 0.50, n)),
                     "p95": _r(percentile_linear(timed, "load_time", 0.95, n)),
                     "avg": _r(totals["avg"]), "samples": n},
        "modulesReporting": totals["modules"],
        "slowestModules": [{"moduleId": str(m["module_id"]), "name": m["module__name"], "avgLoadTime": _r(m["avg"]),
                            "samples": m["samples"]} for m in slowest],
    }


def _latest(name: str) -> Subquery:
    return Subquery(PerformanceMetric.objects.filter(execution=OuterRef("pk"), name=name)
                    .order_by("-recorded_at", "-id").values("value")[:1])


def _fl(since) -> dict:
    executions = TrainingExecution.objects.filter(
        Q(created_at__gte=since) | Q(completed_at__gte=since) | Q(status__in=_LIVE))
    by_status = dict(executions.order_by().values_list("status").annotate(n=Count("id")))
    duration = ExpressionWrapper(F("completed_at") - F("started_at"), output_field=DurationField())
    rounds = TrainingRound.objects.filter(completed_at__gte=since).aggregate(
        completed=Count("id", filter=Q(status=RoundStatus.COMPLETED)),
        rejected=Count("id", filter=Q(status=RoundStatus.REJECTED)), mean=Avg(duration))
    updates = ClientUpdate.objects.filter(received_at__gte=since).aggregate(
        total=Count("id"), train=Count("id", filter=Q(phase=UpdatePhase.TRAIN)),
        evaluate=Count("id", filter=Q(phase=UpdatePhase.EVALUATE)), failed=Count("id", filter=~Q(error="")),
        examples=Sum("num_examples", filter=Q(phase=UpdatePhase.TRAIN, error="")),
        clients=Count("client", distinct=True))
    metrics: dict[str, dict] = {}
    for row in PerformanceMetric.objects.filter(recorded_at__gte=since).order_by().values("kind", "name") \
            .annotate(avg=Avg("value"), min=Min("value"), max=Max("value"), samples=Count("id")) \
            .order_by("kind", "name"):
        metrics.setdefault(row["kind"], {})[row["name"]] = {
            "avg": _r(row["avg"], 6), "min": row["min"], "max": row["max"], "samples": row["samples"]}
    running = TrainingExecution.objects.filter(status__in=_LIVE)
    listed = running.annotate(accuracy=_latest("accuracy"), loss=_latest("loss")).order_by("-created_at").values(
        "id", "status", "algorithm", "current_round", "total_rounds", "accuracy", "loss", "heartbeat_at")
    mean = rounds["mean"]
    return {
        "executions": {"total": sum(by_status.values()), "byStatus": by_status},
        "rounds": {"completed": rounds["completed"], "rejected": rounds["rejected"],
                   "meanDurationSeconds": _r(mean.total_seconds()) if mean is not None else None},
        "clientUpdates": {"total": updates["total"], "train": updates["train"], "evaluate": updates["evaluate"],
                          "failed": updates["failed"], "examples": updates["examples"] or 0,
                          "clients": updates["clients"]},
        "metrics": metrics,
        "running": {"total": running.count(), "executions": [
            {"executionId": str(r["id"]), "status": r["status"], "algorithm": r["algorithm"],
             "currentRound": r["current_round"], "totalRounds": r["total_rounds"], "accuracy": r["accuracy"],
             "loss": r["loss"], "heartbeatAt": r["heartbeat_at"]} for r in listed[:RUNNING_LISTED]]},
    }


def _request_stats(rows: QuerySet, seconds: float) -> dict:
    totals = rows.aggregate(total=Count("id"), errors=Count("id", filter=Q(ok=False)), avg=Avg("latency_ms"))
    n = totals["total"]
    return {"requests": n, "errors": totals["errors"], "errorRate": _r(totals["errors"] / n, 4) if n else 0.0,
            "throughput": _r(n / seconds, 6), "latencyP95": _r(percentile_nearest(rows, "latency_ms", 95, n)),
            "latencyAvg": _r(totals["avg"])}


def _regions(since, seconds: float) -> dict:
    rows = RequestMetric.objects.filter(at__gte=since)
    names = rows.order_by("region").values_list("region", flat=True).distinct()
    # One percentile query per region that served requests: regions are few.
    return {**_request_stats(rows, seconds),
            "byRegion": {name: _request_stats(rows.filter(region=name), seconds) for name in names}}


def performance_overview(*, systems: str | None = None, period: str | None = None) -> dict:
    systems, period = systems or "both", period or "24h"
    if systems not in SYSTEMS:
        raise DomainError(f"systems must be one of {', '.join(SYSTEMS)}.", code=ErrorCode.VALIDATION_ERROR,
                          status=422, details={"systems": systems})
    if period not in PERIODS:
        raise DomainError(f"period must be one of {', '.join(PERIODS)}.", code=ErrorCode.VALIDATION_ERROR,
                          status=422, details={"period": period})
    now = timezone.now()
    since = now - PERIODS[period]
    body: dict = {"systems": systems, "period": period, "from": since, "to": now}
    if systems in ("federation", "both"):
        body["federation"] = _federation(since)
    if systems in ("fl", "both"):
        body["fl"] = _fl(since)
    if systems == "both":
        body["regions"] = _regions(since, PERIODS[period].total_seconds())
    return body
