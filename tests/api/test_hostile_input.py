"""Input an OpenAPI fuzzer sends to every operation: bodies that are JSON but not an object, and page
numbers that do not fit the database's integers. Each is a 4xx in the error envelope, never a 500,
on every endpoint found by walking the URL resolver (routes added later are covered too)."""
from __future__ import annotations

import pytest
from django.test import Client

from fedplane.api.models import AuditEntry
from fedplane.api.scopes import ALL_SCOPES
from fedplane.events.models import Event

from .helpers import data_of, error_of
from .routes import protected_endpoints

pytestmark = pytest.mark.django_db

NOT_OBJECTS = ["[]", "null", '"x"', "1", "false"]
# Endpoints that stream (an SSE response never ends) or that a test-client GET cannot finish.
STREAMING = {"/api/v1/integration/events/stream"}


@pytest.fixture
def superuser(make_key, make_user, settings):
    settings.RATE_LIMITS = {bucket: 1_000_000 for bucket in settings.RATE_LIMITS}
    plaintext, _ = make_key(sorted(ALL_SCOPES), user=make_user(superuser=True))
    return {"HTTP_X_API_KEY": plaintext}


@pytest.mark.parametrize("body", NOT_OBJECTS)
def test_a_json_body_that_is_not_an_object_is_422(client, superuser, body):
    response = client.post("/api/v1/auth/api-keys", body, content_type="application/json", **superuser)
    error = error_of(response, 422, "VALIDATION_ERROR")
    assert "non_field_errors" in error["details"] and "must be a JSON object" in error["message"]


def test_every_write_endpoint_refuses_a_body_that_is_not_an_object(superuser):
    """Found on PATCH /regions/{name} (a TypeError); checked on every POST, PUT and PATCH. A view
    that 404s on the sample path's id first answers 404; none may answer 5xx."""
    client = Client(raise_request_exception=False)
    failures = []
    for method, path in protected_endpoints():
        if method not in ("POST", "PUT", "PATCH"):
            continue
        for body in ("[]", "null", "1"):
            response = client.generic(method, path, data=body.encode(), content_type="application/json",
                                      **superuser)
            if response.status_code >= 500 or not response.headers.get("Content-Type", "").startswith(
                    "application/json"):
                failures.append(f"{method} {path} {body}: {response.status_code} {response.content[:200]!r}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("path", ["/api/v1/audit", "/api/v1/fl/clients", "/api/v1/fl/executions",
                                  "/api/v1/federation/applications", "/api/v1/integration/events"])
def test_a_page_past_the_database_integers_is_an_empty_page(client, superuser, path):
    AuditEntry.objects.create(method="POST", path="/api/v1/x", status_code=201, outcome="success", request_id="r")
    Event.objects.create(type="test.event", system="platform", data={})
    before = (AuditEntry.objects.count(), Event.objects.count())
    body = data_of(client.get(path, {"page": 10**18}, **superuser))
    assert body["data"] == [] and body["pagination"]["page"] == 10**18
    assert body["pagination"]["hasNext"] is False and body["pagination"]["hasPrev"] is True
    for page in ("-1", "0", "abc", "1e3", "9" * 5000):
        error = error_of(client.get(path, {"page": page}, **superuser), 422, "VALIDATION_ERROR")
        assert "page" in error["details"]
    huge_limit = data_of(client.get(path, {"limit": 10**30}, **superuser))
    assert huge_limit["pagination"]["limit"] == 100
    assert (AuditEntry.objects.filter(path="/api/v1/x").count(), Event.objects.count()) == (1, before[1])


def test_every_list_answers_extreme_pages_without_a_server_error(superuser):
    client = Client(raise_request_exception=False)
    failures = []
    for method, path in protected_endpoints():
        if method != "GET" or path in STREAMING:
            continue
        for page in (str(10**18), "-1", "abc"):
            response = client.get(path, {"page": page, "limit": str(10**30)}, **superuser)
            if response.status_code >= 500:
                failures.append(f"GET {path}?page={page}: {response.status_code} {response.content[:200]!r}")
    assert not failures, "\n".join(failures)


@pytest.mark.django_db(transaction=True)  # the async view reads the key in a thread of its own: committed rows
def test_the_event_stream_refuses_a_last_event_id_no_event_can_have(client, superuser):
    """-5 replayed the whole history (as 0 asks); junk and ids beyond 64 bits are refused alike."""
    for last_id in ("-5", "-1", "abc", "1.5", str(2**63)):
        for how in ({"HTTP_LAST_EVENT_ID": last_id}, {"QUERY_STRING": f"lastEventId={last_id}"}):
            response = client.get("/api/v1/integration/events/stream", **superuser, **how)
            error = error_of(response, 422, "VALIDATION_ERROR")
            assert "Last-Event-ID" in error["message"] and error["details"] == {"lastEventId": last_id}


@pytest.mark.parametrize("after", ["-1", str(2**63), "abc"])
def test_event_history_refuses_an_after_id_out_of_range(client, superuser, after):
    error = error_of(client.get("/api/v1/integration/events", {"afterId": after}, **superuser), 422,
                     "VALIDATION_ERROR")
    assert "afterId" in error["details"]
