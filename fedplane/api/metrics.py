"""Per-request Prometheus metrics in one middleware (django-prometheus's metrics, same names).

django-prometheus records them with two `MiddlewareMixin` middleware (one first, one last in
the chain), each hook looking up labelled children by keyword; together ~0.1-0.2 ms per
request. This one records the same counters and histograms on django-prometheus's own
metric objects (so `/metrics`, its names and labels, and the multi-process mode are
unchanged), around the whole chain, with the labelled children kept in a dict.
Differences: the per-view latency includes the other middleware (there is no "after"
point any more), so the "unknown latency" counters stay at zero; and the `method` label holds
only the methods the API answers, every other one (a scanner's TRACE, a made-up verb) being
`other`, so that no client can add label values (series) to the scrape.
"""
from __future__ import annotations

from time import perf_counter

from django_prometheus.middleware import Metrics

__all__ = ["PrometheusMiddleware", "method_label", "record_exception"]

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_children: dict[tuple, object] = {}


def _child(metric, *labels):
    key = (id(metric), *labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


def method_label(method: str | None) -> str:
    """The request's method as a label value: one of the API's methods, else `other`."""
    return method if method in _METHODS else "other"


def _view_name(request) -> str:
    match = getattr(request, "resolver_match", None)
    return (match.view_name if match is not None else None) or "<unnamed view>"


def record_exception(request, exception: BaseException) -> None:
    """Count an exception a view raised (by type and by view)."""
    metrics = Metrics.get_instance()
    _child(metrics.exceptions_by_type, type(exception).__name__).inc()
    if getattr(request, "resolver_match", None) is not None:
        _child(metrics.exceptions_by_view, _view_name(request)).inc()


class PrometheusMiddleware:
    """Put first in MIDDLEWARE, instead of django-prometheus's Before/After pair."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.metrics = Metrics.get_instance()

    def __call__(self, request):
        m = self.metrics
        started = perf_counter()
        m.requests_total.inc()
        method = method_label(request.method)
        transport = "https" if request.is_secure() else "http"
        _child(m.requests_by_method, method).inc()
        _child(m.requests_by_transport, transport).inc()
        meta = request.META
        if meta.get("HTTP_X_REQUESTED_WITH") == "XMLHttpRequest":
            m.requests_ajax.inc()
        try:
            m.requests_body_bytes.observe(int(meta.get("CONTENT_LENGTH") or 0))
        except ValueError:  # BodySizeLimitMiddleware answers it with a 400
            m.requests_body_bytes.observe(0)

        response = self.get_response(request)

        view = _view_name(request)
        if getattr(request, "resolver_match", None) is not None:
            _child(m.requests_by_view_transport_method, view, transport, method).inc()
        status = str(response.status_code)
        _child(m.responses_by_status, status).inc()
        _child(m.responses_by_status_view_method, status, view, method).inc()
        if hasattr(response, "template_name"):
            _child(m.responses_by_templatename, str(response.template_name)).inc()
        if hasattr(response, "charset"):
            _child(m.responses_by_charset, str(response.charset)).inc()
        if response.streaming:
            m.responses_streaming.inc()
        else:
            m.responses_body_bytes.observe(len(response.content))
        elapsed = perf_counter() - started
        _child(m.requests_latency_by_view_method, view, method).observe(elapsed)
        m.responses_total.inc()
        m.requests_latency_before.observe(elapsed)
        return response

    def process_exception(self, request, exception):
        # Reached when no inner middleware answered (ApiErrorMiddleware counts the ones it answers).
        record_exception(request, exception)
        return None
