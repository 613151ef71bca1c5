"""Cross-region metrics from recorded requests: the seed's GET /metrics and a Prometheus collector."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from fedplane.api.errors import DomainError

from ..models import Region, RequestMetric

__all__ = ["percentile", "METRIC_NAMES", "metric_by_region", "metrics_query", "RegionsCollector"]


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n*q/100)
    return float(ordered[int(rank) - 1])


METRIC_NAMES = ("request_latency_p50", "request_latency_p95", "request_latency_p99", "request_latency_avg",
                "error_rate", "throughput", "request_count")


def metric_by_region(metric_name: str, *, regions: list[str] | None, hours: float) -> dict[str, float | None]:
    since = timezone.now() - timedelta(hours=hours)
    names = regions or list(Region.objects.values_list("name", flat=True))
    rows = RequestMetric.objects.filter(at__gte=since, region__in=names)
    out: dict[str, float | None] = {}
    if metric_name.startswith("request_latency_"):
        latencies: dict[str, list[float]] = {n: [] for n in names}
        for region, latency in rows.values_list("region", "latency_ms"):
            latencies[region].append(latency)
        for name, values in latencies.items():
            if metric_name == "request_latency_avg":
                out[name] = sum(values) / len(values) if values else None
            else:
                out[name] = percentile(values, float(metric_name.rsplit("_p", 1)[1]))
        return out
    counts = {r["region"]: r for r in rows.values("region").annotate(total=Count("id"), errors=Count("id", filter=Q(ok=False)))}
    for name in names:
        row = counts.get(name, {"total": 0, "errors": 0})
        if metric_name == "error_rate":
            out[name] = row["errors"] / row["total"] if row["total"] else 0.0
        elif metric_name == "throughput":
            out[name] = row["total"] / (hours * 3600)  # requests per second over the window
        else:
            out[name] = float(row["total"])
    return out


def metrics_query(*, metric_name: str, regions: list[str] | None, hours: float) -> dict[str, Any]:
    if metric_name not in METRIC_NAMES:
        raise DomainError(f"Unknown metric_name {metric_name!r}; known: {', '.join(METRIC_NAMES)}.",
                          code="VALIDATION_ERROR", status=422, details={"known": list(METRIC_NAMES)})
    by_region = metric_by_region(metric_name, regions=regions, hours=hours)
    known = [v for v in by_region.values() if v is not None]
    return {"metric_name": metric_name, "by_region": {k: (round(v, 6) if v is not None else None)
                                                      for k, v in by_region.items()},
            "global_average": round(sum(known) / len(known), 6) if known else None, "timestamp": timezone.now()}


class RegionsCollector:
    """Prometheus gauges per region over the last five minutes, read from recorded requests at scrape time."""

    WINDOW_HOURS = 5 / 60
    _GAUGES = {"request_latency_p95": ("fedplane_region_request_latency_p95_ms", "p95 predict latency (ms), 5 min"),
               "error_rate": ("fedplane_region_error_rate", "Share of predict requests that failed, 5 min"),
               "throughput": ("fedplane_region_throughput_rps", "Predict requests per second, 5 min")}

    def describe(self):  # names only: registering must not touch the database
        for name, doc in self._GAUGES.values():
            yield GaugeMetricFamily(name, doc, labels=["region"])
        yield GaugeMetricFamily("fedplane_region_up", "1 unless the region's last probe found it down",
                                labels=["region"])

    def collect(self):
        from django.db import DatabaseError

        try:
            for key, (name, doc) in self._GAUGES.items():
                family = GaugeMetricFamily(name, doc, labels=["region"])
                for region, value in metric_by_region(key, regions=None, hours=self.WINDOW_HOURS).items():
                    if value is not None:
                        family.add_metric([region], value)
                yield family
            up = GaugeMetricFamily("fedplane_region_up", "1 unless the region's last probe found it down",
                                   labels=["region"])
            for name, status in Region.objects.values_list("name", "health_status"):
                up.add_metric([name], 0.0 if status == "down" else 1.0)
            yield up
        except DatabaseError:  # no tables yet (before migrate): expose nothing rather than fail the scrape
            return
