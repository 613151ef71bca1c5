"""Operations: liveness, readiness of what requests depend on, Prometheus metrics."""
from __future__ import annotations

import re

import pytest

from fedplane.api.scopes import Scope

from .helpers import data_of

pytestmark = pytest.mark.django_db


def test_livez(client):
    assert data_of(client.get("/livez"))["data"] == {"status": "alive"}


def test_readyz_checks_database_broker_and_channel_layer(client):
    data = data_of(client.get("/readyz"))["data"]
    assert data["status"] == "ready"
    assert {name: check["status"] for name, check in data["checks"].items()} == {
        "database": "up", "broker": "up", "channelLayer": "up"}
    assert all(check["latencyMs"] >= 0 for check in data["checks"].values())


def test_readyz_answers_503_naming_the_failed_dependency(client, monkeypatch):
    from fedplane.ops import checks

    def broker_down():
        raise ConnectionError("broker unreachable")

    monkeypatch.setitem(checks.CHECKS, "broker", broker_down)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["success"] is False and body["error"]["code"] == "SERVICE_UNAVAILABLE"
    checks_ = body["error"]["details"]["checks"]
    assert checks_["broker"]["status"] == "down" and "unreachable" in checks_["broker"]["error"]
    assert checks_["database"]["status"] == "up"


def _sample(text: str, name: str, **labels) -> float:
    """Value of the first sample of `name` whose labels include `labels`."""
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}\{{(.*)\}} (\S+)$", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            return float(match.group(2))
    return 0.0


def test_metrics_counts_requests_and_latency_per_view(client, make_key):
    plaintext, _ = make_key([Scope.FL_METRICS_VIEW])
    counter = "django_http_requests_total_by_view_transport_method_total"
    latency = "django_http_requests_latency_seconds_by_view_method_count"
    before = client.get("/metrics").content.decode()
    for _ in range(3):
        client.get("/api/v1/auth/me", HTTP_X_API_KEY=plaintext)

    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert _sample(text, counter, view="auth-me", method="GET") - _sample(before, counter, view="auth-me",
                                                                          method="GET") == 3
    assert _sample(text, latency, view="auth-me", method="GET") - _sample(before, latency, view="auth-me",
                                                                          method="GET") == 3
    bucket = "django_http_requests_latency_seconds_by_view_method_bucket"
    assert _sample(text, bucket, view="auth-me", le="+Inf") >= 3
    assert "django_http_responses_total_by_status_total" in text


def test_metrics_method_label_holds_only_the_api_methods(client):
    """A scanner's TRACE or a made-up verb counts as `other`: no client adds label values to the scrape."""
    for method in ("TRACE", "CONNECT", "PROPFIND", "FUZZ-1", "<invalid method>"):
        client.generic(method, "/api/v1/auth/me")
        client.generic(method, "/no/such/path")
    text = client.get("/metrics").content.decode()
    methods = set(re.findall(r'\bmethod="([^"]*)"', text))
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}, methods
    assert _sample(text, "django_http_requests_total_by_method_total", method="other") >= 10
    latency = "django_http_requests_latency_seconds_by_view_method_count"
    assert _sample(text, latency, method="other", view="auth-me") >= 5
    assert _sample(text, latency, method="other", view="<unnamed view>") >= 5


def test_a_worker_serves_its_metric_objects_but_not_the_database_gauges(settings):
    """FEDPLANE_WORKER_METRICS_ADDRESS: what the worker's processes count (rounds, ...); the gauges read
    from the database are the web's alone, or Prometheus would get them twice."""
    import httpx

    from fedplane.ops.metrics import serve_worker_metrics
    from tests.support.processes import free_port

    settings.FEDPLANE_WORKER_METRICS_ADDRESS = ""
    assert serve_worker_metrics() is None
    settings.FEDPLANE_WORKER_METRICS_ADDRESS = f"127.0.0.1:{free_port()}"
    server = serve_worker_metrics()
    try:
        text = httpx.get(f"http://{settings.FEDPLANE_WORKER_METRICS_ADDRESS}/metrics", timeout=10).text
    finally:
        server.shutdown()
        server.server_close()
    assert "fedplane_fl_round_duration_seconds" in text and "django_http_requests_total_by_method" in text
    assert "fedplane_fl_executions" not in text and "fedplane_region_up" not in text
