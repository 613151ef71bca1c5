"""Training and system metrics, data distribution analysis, and metric export."""
from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from datetime import datetime

from fedplane.api.envelope import dumps
from fedplane.api.errors import DomainError

from ..models import ClientUpdate, FLClient, PerformanceMetric, TrainingRound
from ..selectors import period_start
from .executions import execution_get

__all__ = ["training_metrics", "system_metrics", "data_distribution", "export_metrics", "INTERVALS"]

INTERVALS = {"1m": 60, "5m": 300, "1h": 3600, "1d": 86400}
AGGREGATIONS = {"mean": lambda v: sum(v) / len(v), "sum": sum, "max": max, "min": min}
TRAINING_METRICS = ("loss", "accuracy", "convergence", "participation")


def _invalid(message: str, **details) -> DomainError:
    return DomainError(message, code="VALIDATION_ERROR", status=422, details=details)


def _bucketed(points: list[tuple[datetime, float]], interval: str, aggregation: str) -> list[dict]:
    if interval not in INTERVALS:
        raise _invalid(f"interval must be one of {sorted(INTERVALS)}", interval=interval)
    if aggregation not in AGGREGATIONS:
        raise _invalid(f"aggregation must be one of {sorted(AGGREGATIONS)}", aggregation=aggregation)
    step, buckets = INTERVALS[interval], defaultdict(list)
    for at, value in points:
        buckets[int(at.timestamp()) // step * step].append(value)
    reduce = AGGREGATIONS[aggregation]
    return [{"timestamp": datetime.fromtimestamp(start).astimezone().isoformat(), "value": reduce(values),
             "count": len(values)} for start, values in sorted(buckets.items())]


def training_metrics(*, execution_id, metrics: str | None, aggregation: str = "mean", interval: str = "1m") -> dict:
    execution = execution_get(execution_id)
    wanted = [m for m in (metrics or "loss,accuracy").split(",") if m]
    unknown = set(wanted) - set(TRAINING_METRICS)
    if unknown:
        raise _invalid(f"unknown metrics {sorted(unknown)}; known: {list(TRAINING_METRICS)}")
    rounds = list(TrainingRound.objects.filter(execution=execution).order_by("round_number"))
    result: dict = {"executionId": str(execution.id), "aggregation": aggregation, "interval": interval, "series": {}}
    for name in wanted:
        if name in ("loss", "accuracy"):
            rows = PerformanceMetric.objects.filter(execution=execution, kind="training", name=name)
            per_round = [{"round": r.round_number, "value": r.value} for r in rows.order_by("round_number")]
            result["series"][name] = {"perRound": per_round, "buckets": _bucketed(
                [(r.recorded_at, r.value) for r in rows], interval, aggregation)}
        elif name == "convergence":
            losses = [(r.round_number, r.metrics.get("evaluate", {}).get("eval-loss")) for r in rounds]
            losses = [(n, v) for n, v in losses if v is not None]
            deltas = [{"round": n, "lossDelta": v - p} for (_, p), (n, v) in zip(losses, losses[1:])]
            result["series"]["convergence"] = {"perRound": deltas, "converging": bool(deltas) and
                                               sum(d["lossDelta"] for d in deltas[-3:]) < 0}
        else:
            counts = {r.round_number: r.updates.filter(phase="train").count() for r in rounds}
            result["series"]["participation"] = {"perRound": [{"round": n, "clients": c} for n, c in counts.items()]}
    return result


def system_metrics(*, resource: str | None, node_type: str | None, period: str = "1h") -> dict:
    since = period_start(period, "1h")
    rows = PerformanceMetric.objects.filter(kind="system", recorded_at__gte=since)
    if resource:
        rows = rows.filter(name=resource)
    if node_type:
        rows = rows.filter(node_type=node_type)
    grouped: dict = defaultdict(list)
    for row in rows.order_by("recorded_at")[:5000]:
        grouped[(row.node_type, row.name)].append(row.value)
    return {"period": period, "resources": [
        {"nodeType": nt, "resource": name, "latest": values[-1], "mean": sum(values) / len(values),
         "max": max(values), "samples": len(values)} for (nt, name), values in sorted(grouped.items())]}


def _distribution(client: FLClient) -> dict[str, float]:
    raw = (client.data_profile or {}).get("distribution") or {}
    return {str(k): float(v) for k, v in raw.items() if isinstance(v, (int, float)) and v >= 0}


def _js_divergence(p: dict[str, float], q: dict[str, float]) -> float:
    """Jensen-Shannon divergence (base 2, in [0, 1]) of two label histograms."""
    keys = set(p) | set(q)
    ps, qs = sum(p.values()) or 1.0, sum(q.values()) or 1.0
    total = 0.0
    for key in keys:
        a, b = p.get(key, 0.0) / ps, q.get(key, 0.0) / qs
        m = (a + b) / 2
        total += (a * math.log2(a / m) if a else 0.0) + (b * math.log2(b / m) if b else 0.0)
    return total / 2


def data_distribution(*, execution_id, analysis: str | None) -> dict:
    clients = list(FLClient.objects.filter(assignments__execution_id=execution_id)) if execution_id else []
    if execution_id and not clients:
        execution_get(execution_id)  # FL001 if unknown
        node_ids = ClientUpdate.objects.filter(round__execution_id=execution_id).values("client_id")
        clients = list(FLClient.objects.filter(pk__in=node_ids))
    if not execution_id:
        clients = list(FLClient.objects.all())
    wanted = [a for a in (analysis or "heterogeneity,imbalance,quality").split(",") if a]
    result: dict = {"executionId": str(execution_id) if execution_id else None, "clients": len(clients)}
    global_hist: dict[str, float] = defaultdict(float)
    for client in clients:
        for label, count in _distribution(client).items():
            global_hist[label] += count
    if "heterogeneity" in wanted:
        per_client = {str(c.id): round(_js_divergence(_distribution(c), global_hist), 6) for c in clients}
        values = list(per_client.values())
        result["heterogeneity"] = {"metric": "jensen-shannon divergence to the pooled label distribution",
                                   "perClient": per_client, "mean": sum(values) / len(values) if values else 0.0,
                                   "max": max(values, default=0.0)}
    if "imbalance" in wanted:
        samples = sorted(int((c.data_profile or {}).get("samples", 0)) for c in clients)
        n, total = len(samples), sum(samples)
        gini = (sum((2 * i - n + 1) * s for i, s in enumerate(samples)) / (n * total)) if n and total else 0.0
        labels = [v for v in global_hist.values() if v > 0]
        result["imbalance"] = {"samplesPerClient": {str(c.id): int((c.data_profile or {}).get("samples", 0))
                                                    for c in clients},
                               "giniSamples": round(gini, 6),
                               "maxMinSampleRatio": (samples[-1] / samples[0]) if n and samples[0] else None,
                               "labelImbalanceRatio": (max(labels) / min(labels)) if labels else None}
    if "quality" in wanted:
        counts: dict[str, int] = defaultdict(int)
        for client in clients:
            counts[(client.data_profile or {}).get("quality", "unknown")] += 1
        result["quality"] = {"byQuality": dict(counts)}
    return result


def export_metrics(*, execution_id, fmt: str, metrics: list[str] | None, date_from=None, date_to=None):
    """(content bytes, content type, file name) of an execution's metric rows."""
    execution = execution_get(execution_id)
    rows = PerformanceMetric.objects.filter(execution=execution)
    if metrics:
        rows = rows.filter(name__in=metrics)
    if date_from:
        rows = rows.filter(recorded_at__gte=date_from)
    if date_to:
        rows = rows.filter(recorded_at__lte=date_to)
    records = [{"executionId": str(execution.id), "round": r.round_number, "kind": r.kind, "nodeType": r.node_type,
                "clientId": str(r.client_id) if r.client_id else "", "metric": r.name, "value": r.value,
                "recordedAt": r.recorded_at.isoformat()} for r in rows.order_by("recorded_at", "id")]
    name = f"execution-{execution.id}-metrics.{fmt}"
    if fmt == "json":
        return dumps(records), "application/json", name
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["executionId", "round", "kind", "nodeType", "clientId", "metric",
                                                    "value", "recordedAt"])
        writer.writeheader()
        writer.writerows(records)
        return buffer.getvalue().encode(), "text/csv", name
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(records) if records else pa.table({"metric": pa.array([], pa.string())}),
                   sink)
    return sink.getvalue(), "application/vnd.apache.parquet", name

