"""/livez and /readyz: public, as the seed allows for health; /metrics for Prometheus."""
import os

import prometheus_client
from django.http import HttpResponse
from django.views.decorators.http import require_GET

from fedplane.api.envelope import dumps, envelope
from fedplane.api.errors import ErrorCode, error_body

from .checks import run_checks

__all__ = ["liveness", "metrics", "readiness"]


def _json(payload: dict, status: int = 200) -> HttpResponse:
    return HttpResponse(dumps(payload), status=status, content_type="application/json")


@require_GET
def liveness(request):
    return _json(envelope({"status": "alive"}, request))


@require_GET
def readiness(request):
    ready, checks = run_checks()
    if ready:
        return _json(envelope({"status": "ready", "checks": checks}, request))
    return _json(error_body(ErrorCode.SERVICE_UNAVAILABLE, "Not ready.", {"checks": checks}), status=503)


# Per-process collectors: in multi-process mode the files hold what matters of each process.
_PER_PROCESS = (prometheus_client.ProcessCollector, prometheus_client.PlatformCollector,
                prometheus_client.GCCollector)


def _registry() -> prometheus_client.CollectorRegistry:
    """With PROMETHEUS_MULTIPROC_DIR (several server processes, runplatform --web-workers),
    the metric objects of every process are summed from their files; collectors computed at
    scrape time (the regions' gauges, read from the database) are asked once, here."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return prometheus_client.REGISTRY
    from prometheus_client import multiprocess
    from prometheus_client.metrics import MetricWrapperBase

    registry = prometheus_client.CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    for collector in list(prometheus_client.REGISTRY._collector_to_names):  # no public listing exists
        if not isinstance(collector, (MetricWrapperBase, *_PER_PROCESS)):
            registry.register(collector)
    return registry


@require_GET
def metrics(request):
    return HttpResponse(prometheus_client.generate_latest(_registry()),
                        content_type=prometheus_client.CONTENT_TYPE_LATEST)
