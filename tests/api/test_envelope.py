"""What every response carries: the envelope, a request id, the seed's security
headers, CORS for configured origins, and the seed's pagination block."""
from __future__ import annotations

import uuid

import pytest
from django.test import override_settings

from fedplane.api.models import AuditEntry
from fedplane.api.scopes import Scope

from .helpers import SECURITY_HEADERS, data_of, error_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def caller(make_key):
    plaintext, _ = make_key([Scope.ADMIN_AUDIT_VIEW])
    return {"HTTP_X_API_KEY": plaintext}


def test_success_envelope_shape(client, caller):
    body = data_of(client.get("/api/v1/auth/me", **caller))
    assert set(body) == {"success", "data", "meta"}
    assert body["meta"]["version"] and body["meta"]["timestamp"].endswith("Z")


def test_request_id_is_echoed_and_equals_meta_request_id(client, caller):
    sent = f"trace-{uuid.uuid4()}"
    response = client.get("/api/v1/auth/me", HTTP_X_REQUEST_ID=sent, **caller)
    assert response.headers["X-Request-ID"] == sent
    assert data_of(response)["meta"]["requestId"] == sent


@pytest.mark.parametrize("sent", [None, "", "has spaces and <html>", "x" * 129, "newline\\r\\nInjected: 1"])
def test_request_id_is_minted_when_absent_or_malformed(client, caller, sent):
    extra = {"HTTP_X_REQUEST_ID": sent} if sent is not None else {}
    first = client.get("/api/v1/auth/me", **extra, **caller)
    second = client.get("/api/v1/auth/me", **extra, **caller)
    minted = first.headers["X-Request-ID"]
    assert minted != sent and uuid.UUID(minted)
    assert minted != second.headers["X-Request-ID"], "each request gets its own id"
    assert data_of(first)["meta"]["requestId"] == minted


def test_error_responses_carry_the_request_id_too(client):
    response = client.get("/api/v1/audit", HTTP_X_REQUEST_ID="err-1")
    error_of(response, 401)
    assert response.headers["X-Request-ID"] == "err-1"
    assert client.get("/api/v1/nowhere", HTTP_X_REQUEST_ID="err-2").headers["X-Request-ID"] == "err-2"


@pytest.mark.parametrize("path, status", [
    ("/api/v1/auth/me", 200),
    ("/api/v1/audit", 200),
    ("/api/v1/auth/me?as=anonymous", 401),
    ("/api/v1/no/such/endpoint", 404),
    ("/admin/login/", 200),
    ("/livez", 200),
    ("/readyz", 200),
    ("/metrics", 200),
])
def test_security_headers_on_every_response(client, caller, path, status):
    credentials = {} if "anonymous" in path else caller
    response = client.get(path, **credentials)
    assert response.status_code == status
    for header, value in SECURITY_HEADERS.items():
        assert response.headers.get(header) == value, (path, header)


@override_settings(CORS_ALLOWED_ORIGINS=["https://console.example.org"])
def test_cors_allows_only_configured_origins(client, caller):
    allowed = client.get("/api/v1/auth/me", HTTP_ORIGIN="https://console.example.org", **caller)
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://console.example.org"
    assert "x-request-id" in allowed.headers["Access-Control-Expose-Headers"].lower()
    other = client.get("/api/v1/auth/me", HTTP_ORIGIN="https://evil.example.com", **caller)
    assert other.status_code == 200 and "Access-Control-Allow-Origin" not in other.headers

    preflight = client.options("/api/v1/auth/me", HTTP_ORIGIN="https://console.example.org",
                               HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
                               HTTP_ACCESS_CONTROL_REQUEST_HEADERS="x-api-key")
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://console.example.org"
    assert "x-api-key" in preflight.headers["Access-Control-Allow-Headers"].lower()


def test_pagination_block(client, caller):
    AuditEntry.objects.bulk_create(
        AuditEntry(method="POST", path=f"/api/v1/x/{n}", status_code=201, outcome="success", request_id=f"r{n}")
        for n in range(5))
    first = client.get("/api/v1/audit", {"limit": 2}, **caller).json()
    assert first["pagination"] == {"page": 1, "limit": 2, "total": 5, "hasNext": True, "hasPrev": False}
    assert len(first["data"]) == 2 and first["meta"]["requestId"]
    middle = client.get("/api/v1/audit", {"limit": 2, "page": 2}, **caller).json()
    assert middle["pagination"] == {"page": 2, "limit": 2, "total": 5, "hasNext": True, "hasPrev": True}
    last = client.get("/api/v1/audit", {"limit": 2, "page": 3}, **caller).json()
    assert last["pagination"] == {"page": 3, "limit": 2, "total": 5, "hasNext": False, "hasPrev": True}
    assert len(last["data"]) == 1
    seen = [e["requestId"] for page in (first, middle, last) for e in page["data"]]
    assert sorted(seen) == [f"r{n}" for n in range(5)], "pages neither overlap nor skip"
    beyond = client.get("/api/v1/audit", {"limit": 2, "page": 9}, **caller).json()
    assert beyond["data"] == [] and beyond["pagination"]["hasNext"] is False


def test_default_and_maximum_page_size(client, caller):
    assert client.get("/api/v1/audit", **caller).json()["pagination"]["limit"] == 20
    assert client.get("/api/v1/audit", {"limit": 10_000}, **caller).json()["pagination"]["limit"] == 100
