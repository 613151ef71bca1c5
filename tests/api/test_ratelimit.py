"""Rate limits per caller with the seed's buckets, X-RateLimit-* headers on every
authenticated response, and 429 in the error envelope, shared by server processes."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView

from fedplane.api.scopes import Scope
# This module is a root urlconf too (pytest.mark.urls), so it needs the error handlers.
from fedplane.urls import handler400, handler403, handler404, handler500  # noqa: F401

from .helpers import RATE_HEADERS, data_of, error_of


class TrainingStart(APIView):
    throttle_bucket = "training"

    def get(self, request):
        return Response({"status": "idle"})

    def post(self, request):
        return Response({"status": "started"}, status=202)


class DeploymentCreate(TrainingStart):
    throttle_bucket = "deployment"


urlpatterns = [
    path("api/v1/test/training", TrainingStart.as_view()),
    path("api/v1/test/deployment", DeploymentCreate.as_view()),
    path("", include("fedplane.urls")),
]


def _limits(response) -> tuple[int, int, int]:
    return tuple(int(response.headers[h]) for h in RATE_HEADERS)


def _spend(key: str, servers: list[str], count: int) -> list[tuple[int, int, int]]:
    """`count` requests, alternating over `servers` on kept-alive connections; their limit headers."""
    seen = []
    with httpx.Client(headers={"X-API-Key": key}, timeout=10) as http:
        for n in range(count):
            response = http.get(f"{servers[n % len(servers)]}/api/v1/auth/me")
            assert response.status_code == 200, (n, response.text)
            seen.append(_limits(response))
    return seen


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_the_1001st_request_in_an_hour_is_429_across_two_server_processes(
        live_server_url, second_server_url, make_key):
    plaintext, _ = make_key([])
    bystander, _ = make_key([])
    servers = [live_server_url, second_server_url]
    started = time.time()
    if settings.REDIS_URL:
        # Redis counts atomically: both processes serve at once, each request gets its own count.
        with ThreadPoolExecutor(2) as pool:
            seen = [s for part in pool.map(lambda server: _spend(plaintext, [server], 500), servers) for s in part]
    else:
        # The embedded file cache counts correctly only one request at a time: alternate.
        seen = _spend(plaintext, servers, 1000)
    assert {limit for limit, _, _ in seen} == {1000}
    assert sorted(remaining for _, remaining, _ in seen) == list(range(1000)), "every request counted once"
    reset_at = seen[-1][2]
    assert started + 3590 <= reset_at <= time.time() + 3600, "the window lasts an hour"

    with httpx.Client(headers={"X-API-Key": plaintext}, timeout=10) as http:
        for server in servers:  # both processes refuse: the count is shared
            refused = http.get(f"{server}/api/v1/auth/me")
            error = error_of(refused, 429, "RATE_LIMITED")
            limit, remaining, reset = _limits(refused)
            assert (limit, remaining) == (1000, 0) and abs(reset - reset_at) <= 1  # whole seconds
            retry_after = int(refused.headers["Retry-After"])
            assert 0 < retry_after <= 3600 and abs(retry_after - (reset_at - time.time())) <= 2
            assert error["message"]

        other = http.get(f"{servers[0]}/api/v1/auth/me", headers={"X-API-Key": bystander})
        assert other.status_code == 200 and _limits(other)[1] == 999, "limits are per caller"


@pytest.mark.django_db
def test_every_authenticated_response_carries_the_rate_limit_headers(client, make_key):
    plaintext, _ = make_key([Scope.FL_METRICS_VIEW])
    caller = {"HTTP_X_API_KEY": plaintext}
    responses = {
        "200": client.get("/api/v1/auth/me", **caller),
        "201": client.post("/api/v1/auth/api-keys", {"name": "x", "scopes": [Scope.FL_METRICS_VIEW]},
                           content_type="application/json", **caller),
        "400": client.post("/api/v1/auth/api-keys", "{", content_type="application/json", **caller),
        "403": client.get("/api/v1/audit", **caller),
        "404": client.get("/api/v1/auth/api-keys/nosuchkey", **caller),
        "405": client.delete("/api/v1/auth/me", **caller),
        "422": client.get("/api/v1/auth/api-keys", {"page": 0}, **caller),
    }
    remaining = []
    for status, response in responses.items():
        assert str(response.status_code) == status, (status, response.content)
        assert all(h in response.headers for h in RATE_HEADERS), f"{status} lacks X-RateLimit-*"
        remaining.append(_limits(response)[1])
    assert remaining == sorted(remaining, reverse=True) and remaining[0] < 1000


@pytest.mark.django_db
@pytest.mark.urls(__name__)
@override_settings(RATE_LIMITS={"default": 100, "training": 2, "deployment": 3})
@pytest.mark.parametrize("bucket, limit", [("training", 2), ("deployment", 3)])
def test_training_and_deployment_buckets_limit_writes(client, make_key, bucket, limit):
    plaintext, _ = make_key([])
    other, _ = make_key([])
    url = f"/api/v1/test/{bucket}"
    for n in range(1, limit + 1):
        response = client.post(url, HTTP_X_API_KEY=plaintext)
        assert response.status_code == 202
        assert _limits(response)[:2] == (limit, limit - n), "the tightest bucket is reported"
    refused = client.post(url, HTTP_X_API_KEY=plaintext)
    error_of(refused, 429, "RATE_LIMITED")
    assert _limits(refused)[:2] == (limit, 0) and int(refused.headers["Retry-After"]) > 0

    read = client.get(url, HTTP_X_API_KEY=plaintext)  # reads count only in the default bucket
    data_of(read)
    assert _limits(read)[:2] == (100, 100 - (limit + 2))
    assert client.post(url, HTTP_X_API_KEY=other).status_code == 202


@pytest.mark.django_db
@override_settings(RATE_LIMITS={"default": 3, "training": 10, "deployment": 50})
def test_each_api_key_spends_its_own_budget(client, make_user):
    """Two client machines of one owner, each with its key: one exhausting its budget leaves the other's."""
    from fedplane.api.services import api_key_issue

    owner = make_user([])
    site_a = api_key_issue(user=owner, name="site a", scopes=[])[1]
    site_b = api_key_issue(user=owner, name="site b", scopes=[])[1]
    for _ in range(3):
        data_of(client.get("/api/v1/auth/me", HTTP_X_API_KEY=site_a))
    error_of(client.get("/api/v1/auth/me", HTTP_X_API_KEY=site_a), 429, "RATE_LIMITED")
    response = client.get("/api/v1/auth/me", HTTP_X_API_KEY=site_b)
    data_of(response)
    assert _limits(response)[:2] == (3, 2)
