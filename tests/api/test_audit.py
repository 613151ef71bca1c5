"""Every write through the API is recorded (who, what, when, request id, outcome)
and readable, filtered, through /api/v1/audit behind admin:audit:view."""
from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from django.utils import timezone

from fedplane.api.scopes import Scope

from .helpers import data_of, error_of

pytestmark = pytest.mark.django_db

KEYS = "/api/v1/auth/api-keys"


@pytest.fixture
def auditor(make_key):
    plaintext, _ = make_key([Scope.ADMIN_AUDIT_VIEW])
    return {"HTTP_X_API_KEY": plaintext}


def _entries(client, auditor, **filters) -> list[dict]:
    return data_of(client.get("/api/v1/audit", filters, **auditor))["data"]


def test_a_write_is_recorded_and_readable(client, make_user, make_key, auditor):
    user = make_user([Scope.FL_METRICS_VIEW])
    plaintext, key = make_key([Scope.FL_METRICS_VIEW], user=user)
    request_id = f"audit-{uuid.uuid4()}"
    before = timezone.now()
    created = client.post(KEYS, {"name": "ci", "scopes": [Scope.FL_METRICS_VIEW]}, content_type="application/json",
                          HTTP_X_API_KEY=plaintext, HTTP_X_REQUEST_ID=request_id)
    data_of(created, 201)

    [entry] = _entries(client, auditor, requestId=request_id)
    assert entry["username"] == user.username and entry["apiKeyPrefix"] == key.prefix
    assert (entry["method"], entry["path"], entry["statusCode"], entry["outcome"]) == ("POST", KEYS, 201, "success")
    assert entry["requestId"] == request_id and entry["viewName"]
    assert before <= datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")) <= timezone.now()
    data_of(client.get(f"/api/v1/audit/{entry['id']}", **auditor))


def test_reads_are_not_audited(client, auditor):
    client.get("/api/v1/auth/me", HTTP_X_REQUEST_ID="read-only", **auditor)
    assert _entries(client, auditor, requestId="read-only") == []


def test_denied_writes_are_recorded_as_denied(client, make_key, auditor):
    # 401: no credentials at all.
    error_of(client.post(KEYS, {}, content_type="application/json", HTTP_X_REQUEST_ID="denied-401"), 401)
    [anonymous] = _entries(client, auditor, requestId="denied-401")
    assert (anonymous["outcome"], anonymous["statusCode"], anonymous["username"]) == ("denied", 401, "")

    # 403: a key asking for a scope its owner does not hold.
    plaintext, _ = make_key([Scope.FL_METRICS_VIEW])
    body = {"name": "escalate", "scopes": [Scope.ADMIN_USERS_MANAGE]}
    error_of(client.post(KEYS, body, content_type="application/json", HTTP_X_API_KEY=plaintext,
                         HTTP_X_REQUEST_ID="denied-403"), 403, "FORBIDDEN")
    [forbidden] = _entries(client, auditor, requestId="denied-403")
    assert (forbidden["outcome"], forbidden["statusCode"]) == ("denied", 403)
    assert forbidden["username"]


def test_a_rejected_write_is_recorded_as_rejected(client, make_key, auditor):
    plaintext, _ = make_key([Scope.FL_METRICS_VIEW])
    error_of(client.post(KEYS, "{oops", content_type="application/json", HTTP_X_API_KEY=plaintext,
                         HTTP_X_REQUEST_ID="rejected-400"), 400)
    [entry] = _entries(client, auditor, requestId="rejected-400")
    assert (entry["outcome"], entry["statusCode"]) == ("rejected", 400)


def test_the_audit_log_filters(client, make_user, make_key, auditor):
    alice = make_user([Scope.FL_METRICS_VIEW], username=f"alice-{uuid.uuid4().hex[:6]}")
    alice_key, _ = make_key([Scope.FL_METRICS_VIEW], user=alice)
    ok = {"name": "ci", "scopes": [Scope.FL_METRICS_VIEW]}
    client.post(KEYS, ok, content_type="application/json", HTTP_X_API_KEY=alice_key)
    client.post(KEYS, {"name": "x", "scopes": [Scope.ADMIN_USERS_MANAGE]}, content_type="application/json",
                HTTP_X_API_KEY=alice_key)
    client.post(KEYS, ok, content_type="application/json")  # anonymous, denied

    mine = _entries(client, auditor, username=alice.username)
    assert sorted(e["statusCode"] for e in mine) == [201, 403]
    assert [e["statusCode"] for e in _entries(client, auditor, username=alice.username, outcome="denied")] == [403]
    assert all(e["outcome"] == "denied" for e in _entries(client, auditor, outcome="denied"))
    assert all(e["method"] == "POST" for e in _entries(client, auditor, method="post"))
    assert _entries(client, auditor, **{"from": "2999-01-01T00:00:00Z"}) == []
    assert len(_entries(client, auditor, to="2999-01-01T00:00:00Z")) >= 3
    assert {e["username"] for e in _entries(client, auditor, search=alice.username)} == {alice.username}


def test_the_audit_log_is_readable_in_the_admin(client, make_user, auditor):
    client.post(KEYS, {}, content_type="application/json", HTTP_X_REQUEST_ID="seen-in-admin")
    client.force_login(make_user(superuser=True))
    page = client.get("/admin/api/auditentry/", {"q": "seen-in-admin"})
    assert page.status_code == 200 and b"/api/v1/auth/api-keys" in page.content
