"""/livez and /readyz: public, as the seed allows for health; /metrics for Prometheus."""
import prometheus_client
from django.http import HttpResponse
from django.views.decorators.http import require_GET

from fedplane.api.envelope import dumps, envelope
from fedplane.api.errors import ErrorCode, error_body

from .checks import run_checks
from .metrics import scrape_registry

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


@require_GET
def metrics(request):
    return HttpResponse(prometheus_client.generate_latest(scrape_registry()),
                        content_type=prometheus_client.CONTENT_TYPE_LATEST)
