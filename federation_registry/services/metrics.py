"""`GET /modules/{id}/metrics`: load time percentiles, size, errors and requests over a period."""
from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from ..choices import MetricName, Period
from ..models import ModuleMetric, RemoteModule

__all__ = ["PERIODS", "module_metrics", "percentile"]

PERIODS = {Period.H1: timedelta(hours=1), Period.H24: timedelta(hours=24), Period.D7: timedelta(days=7),
           Period.D30: timedelta(days=30)}


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default), on pre-sorted data."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q
    low = int(pos)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (pos - low)


def module_metrics(module: RemoteModule, *, period: str, metrics: list[str]) -> dict:
    now = timezone.now()
    since = now - PERIODS[period]
    rows = list(ModuleMetric.objects.filter(module=module, created_at__gte=since)
                .values_list("load_time", "size", "success", "kind"))
    result: dict = {"moduleId": str(module.id), "period": period,
                    "from": since.isoformat().replace("+00:00", "Z"), "to": now.isoformat().replace("+00:00", "Z")}
    wanted = set(metrics or MetricName.values)
    if MetricName.LOAD_TIME in wanted:
        times = sorted(t for t, _, ok, _ in rows if ok and t is not None)
        result["loadTime"] = {"p50": _round(percentile(times, 0.50)), "p95": _round(percentile(times, 0.95)),
                              "avg": _round(sum(times) / len(times)) if times else None, "samples": len(times)}
    if MetricName.SIZE in wanted:
        sizes = [s for _, s, ok, _ in rows if ok and s is not None]
        result["size"] = {"latest": sizes[-1] if sizes else (module.size or None),
                          "avg": _round(sum(sizes) / len(sizes)) if sizes else None}
    if MetricName.ERRORS in wanted:
        errors = sum(1 for _, _, ok, _ in rows if not ok)
        result["errors"] = {"count": errors, "rate": _round(errors / len(rows), 4) if rows else 0.0}
    if MetricName.REQUESTS in wanted:
        result["requests"] = {"count": len(rows), "byKind": {
            kind: sum(1 for *_, k in rows if k == kind) for kind in ("load", "telemetry")}}
    return result


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)
