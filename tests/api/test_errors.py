"""Bad requests get the right status in the error envelope: never a 500 for the
caller's mistake, never an HTML page, never a stack trace."""
from __future__ import annotations

import httpx
import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.test import Client, override_settings
from django.urls import include, path
from rest_framework.views import APIView

from fedplane.api.scopes import Scope
# This module is a root urlconf too (pytest.mark.urls), so it needs the error handlers.
from fedplane.urls import handler400, handler403, handler404, handler500  # noqa: F401

from .helpers import data_of, error_of

pytestmark = pytest.mark.django_db

SECRET = "db password is hunter2"


class Boom(APIView):
    def get(self, request):
        raise RuntimeError(SECRET)


def plain_boom(request):
    raise RuntimeError(SECRET)


def plain_ok(request):
    return HttpResponse("ok")


def plain_forbidden(request):
    raise PermissionDenied


def plain_missing(request):
    raise Http404("no such thing")


urlpatterns = [
    path("api/v1/test/boom", Boom.as_view()),
    path("api/v1/test/plain-boom", plain_boom),
    path("api/v1/test/plain", plain_ok),
    path("api/v1/test/plain-forbidden", plain_forbidden),
    path("api/v1/test/plain-missing", plain_missing),
    path("", include("fedplane.urls")),
]

KEYS = "/api/v1/auth/api-keys"


@pytest.fixture
def caller(make_key):
    plaintext, _ = make_key([Scope.ADMIN_AUDIT_VIEW, Scope.FL_METRICS_VIEW])
    return {"HTTP_X_API_KEY": plaintext}


def _post(client, path, body, caller, **extra):
    return client.post(path, body, content_type="application/json", **caller, **extra)


def test_malformed_json_is_400_invalid_json(client, caller):
    error = error_of(_post(client, KEYS, '{"name": "ci", "scopes": [', caller), 400, "INVALID_JSON")
    assert "JSON" in error["message"]


@pytest.mark.parametrize("body, field", [
    ({"name": "ci", "scopes": "fl:metrics:view"}, "scopes"),           # a string where a list goes
    ({"name": {"nested": 1}, "scopes": ["fl:metrics:view"]}, "name"),  # an object where a string goes
    ({"name": "ci", "scopes": ["fl:does-not-exist"]}, "scopes"),       # unknown enum value
    ({"scopes": ["fl:metrics:view"]}, "name"),                          # required field missing
    ([1, 2, 3], "non_field_errors"),                                     # not an object at all
])
def test_wrong_types_and_unknown_enum_values_are_422(client, caller, body, field):
    error = error_of(_post(client, KEYS, body, caller), 422, "VALIDATION_ERROR")
    assert field in error["details"], error


def test_unknown_filter_choice_is_422(client, caller):
    error = error_of(client.get("/api/v1/audit", {"outcome": "exploded"}, **caller), 422, "VALIDATION_ERROR")
    assert "outcome" in error["details"]


@override_settings(MAX_REQUEST_BODY_BYTES=1024)
def test_an_oversized_body_is_413(client, caller):
    body = {"name": "ci", "scopes": ["fl:metrics:view"], "padding": "x" * 2048}
    error = error_of(_post(client, KEYS, body, caller), 413, "PAYLOAD_TOO_LARGE")
    assert error["details"]["limit"] == 1024
    data_of(_post(client, KEYS, {"name": "ci", "scopes": ["fl:metrics:view"]}, caller), 201)


def test_unknown_api_path_is_404_json(client, caller):
    error_of(client.get("/api/v1/no/such/endpoint"), 404, "NOT_FOUND")
    error_of(client.get("/api/v1/no/such/endpoint", **caller), 404, "NOT_FOUND")
    error_of(client.get("/api/v1/audit/999999999", **caller), 404, "NOT_FOUND")
    error_of(client.get("/api/v1/integration/events/999999999", **caller), 404, "NOT_FOUND")


def test_wrong_method_is_405_json(client, caller):
    error_of(client.delete("/api/v1/auth/me", **caller), 405, "METHOD_NOT_ALLOWED")
    error_of(_post(client, "/api/v1/audit", {}, caller), 405, "METHOD_NOT_ALLOWED")
    error_of(client.put("/api/v1/integration/events", b"{}", content_type="application/json", **caller),
             405, "METHOD_NOT_ALLOWED")


def test_the_event_stream_refuses_other_methods_with_405_json(client, caller):
    response = client.post("/api/v1/integration/events/stream", **caller)
    error_of(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["Allow"] == "GET"


def test_a_disallowed_host_on_an_api_path_is_400_json(client, caller):
    error_of(client.get("/api/v1/auth/me", HTTP_HOST="attacker.example", **caller), 400, "BAD_REQUEST")


@pytest.mark.urls(__name__)
def test_errors_outside_drf_views_are_json_on_api_paths():
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.get("/admin/login/")  # a session cookie, so the CSRF check has something to refuse
    error_of(client.post("/api/v1/test/plain"), 403, "FORBIDDEN")
    error_of(client.get("/api/v1/test/plain-forbidden"), 403, "FORBIDDEN")
    error_of(client.get("/api/v1/test/plain-missing"), 404, "NOT_FOUND")
    assert client.get("/api/v1/test/plain").content == b"ok"


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("path", ["/api/v1/test/boom", "/api/v1/test/plain-boom"])
def test_an_unexpected_exception_is_a_500_envelope_without_details(path, caller):
    client = Client(raise_request_exception=False)
    response = client.get(path, **caller)
    error = error_of(response, 500, "INTERNAL_ERROR")
    assert SECRET.encode() not in response.content and b"RuntimeError" not in response.content
    assert error["details"]["requestId"] == response.headers["X-Request-ID"]


def test_unknown_sort_key_is_422_naming_the_allowed_ones(client, caller):
    error = error_of(client.get("/api/v1/audit", {"sort": "password"}, **caller), 422, "VALIDATION_ERROR")
    assert "sort" in error["details"] and "timestamp" in error["message"]
    data_of(client.get("/api/v1/audit", {"sort": "-timestamp"}, **caller))


@pytest.mark.parametrize("query", [{"page": "0"}, {"page": "-1"}, {"page": "two"}, {"limit": "0"}])
def test_bad_page_or_limit_is_422(client, caller, query):
    error = error_of(client.get("/api/v1/audit", query, **caller), 422, "VALIDATION_ERROR")
    assert set(query) <= set(error["details"])


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_through_a_real_server_bad_bodies_are_json_errors(live_server_url, make_key):
    plaintext, _ = make_key([Scope.FL_METRICS_VIEW])
    headers = {"X-API-Key": plaintext, "Content-Type": "application/json"}
    with httpx.Client(base_url=live_server_url, headers=headers, timeout=30) as http:
        error_of(http.post(KEYS, content=b'{"name": '), 400, "INVALID_JSON")
        error_of(http.post(KEYS, json={"name": "ci", "scopes": ["nope"]}), 422, "VALIDATION_ERROR")
        too_big = b'{"name": "' + b"x" * settings.MAX_REQUEST_BODY_BYTES + b'"}'
        error_of(http.post(KEYS, content=too_big), 413, "PAYLOAD_TOO_LARGE")
