"""Without credentials every API endpoint answers 401 in the error envelope.

The endpoints are found by walking the URL resolver, so routes that apps add later
are covered without touching this test. Only the token endpoints (they take a
password) and the public operations endpoints are exempt.
"""
from __future__ import annotations

import pytest
from django.test import Client

from .helpers import error_of
from .routes import PUBLIC, protected_endpoints

pytestmark = pytest.mark.django_db


def test_the_walk_finds_the_api_kit_and_the_event_endpoints():
    paths = {path for _, path in protected_endpoints()}
    assert {"/api/v1/auth/me", "/api/v1/audit", "/api/v1/auth/api-keys", "/api/v1/integration/events",
            "/api/v1/integration/events/stream", "/api/schema/", "/api/docs/"} <= paths
    assert not paths & PUBLIC


def test_every_api_endpoint_without_credentials_answers_401_in_the_error_envelope():
    client = Client(enforce_csrf_checks=True)  # as a real caller: no test-client CSRF bypass
    failures = []
    for method, path in protected_endpoints():
        response = client.generic(method, path, data=b"{}", content_type="application/json")
        try:
            error_of(response, 401, "UNAUTHORIZED")
        except (AssertionError, ValueError) as exc:
            failures.append(f"{method} {path}: {exc}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("path", sorted(PUBLIC - {"/api/v1/auth/token", "/api/v1/auth/token/refresh"}))
def test_operations_endpoints_are_public(path):
    assert Client().get(path).status_code == 200


def test_token_endpoints_answer_without_credentials(make_user):
    user = make_user()
    client = Client(enforce_csrf_checks=True)
    obtained = client.post("/api/v1/auth/token", {"username": user.username, "password": "pw-for-tests-1"},
                           content_type="application/json")
    assert obtained.status_code == 200, obtained.content
    refresh = obtained.json()["data"]["refresh"]
    refreshed = client.post("/api/v1/auth/token/refresh", {"refresh": refresh}, content_type="application/json")
    assert refreshed.status_code == 200 and refreshed.json()["data"]["access"]
    wrong = client.post("/api/v1/auth/token", {"username": user.username, "password": "nope"},
                        content_type="application/json")
    error_of(wrong, 401, "UNAUTHORIZED")


def test_every_api_endpoint_answers_any_method_in_json():
    """Unsupported methods and plain (non-DRF) views too: 401 or 405, never an HTML page."""
    client = Client(enforce_csrf_checks=True)
    failures = []
    for path in sorted({path for _, path in protected_endpoints()}):
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            response = client.generic(method, path, data=b"{}", content_type="application/json")
            try:
                error_of(response, 405 if response.status_code == 405 else 401)
            except (AssertionError, ValueError) as exc:
                failures.append(f"{method} {path}: {exc}")
    assert not failures, "\n".join(failures)
