"""/livez and /readyz: public, as the seed allows for health."""
from django.http import HttpResponse
from django.views.decorators.http import require_GET

from fedplane.api.envelope import dumps, envelope
from fedplane.api.errors import ErrorCode, error_body

from .checks import run_checks

__all__ = ["liveness", "readiness"]


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
