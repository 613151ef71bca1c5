"""Outages of PostgreSQL and Redis, with real processes: the API answers 503 with Retry-After
in the error envelope while the database is down (the API-key lookup included) and when a
task cannot reach the broker, keeps serving while only the rate limiter's Redis is down (it
fails open, for a bounded time), never answers 500, and works again once each is back, with
no manual step.

The server under test runs on a PostgreSQL and a Redis of its own (tests/support/throwaway.py),
so stopping them disturbs no other test.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from fedplane.api.scopes import Scope
from tests.support.processes import ROOT, start_server, wait_until
from tests.support.throwaway import Postgres, Redis, migrate, missing_binaries

from .helpers import RATE_HEADERS, data_of, error_of

pytestmark = [pytest.mark.live, pytest.mark.timeout(300)]


class Stack:
    def __init__(self, url: str, key: str, postgres: Postgres, redis: Redis, env: dict[str, str]) -> None:
        self.url, self.key, self.postgres, self.redis, self.env = url, key, postgres, redis, env
        self.statuses: list[int] = []  # every status the server answered, to prove none was a 500

    def call(self, method: str, path: str, *, key: str | None = None, **kwargs) -> httpx.Response:
        response = httpx.request(method, f"{self.url}/api/v1{path}", timeout=30,
                                 headers={"X-API-Key": key or self.key, **kwargs.pop("headers", {})}, **kwargs)
        self.statuses.append(response.status_code)
        return response


@pytest.fixture(scope="module")
def stack(live_env, live_logs, tmp_path_factory):
    missing = missing_binaries()
    if missing:  # scripts/test installs both in CI
        pytest.skip(f"outage tests need {', '.join(missing)}")
    postgres, redis = Postgres().start(), Redis().start()
    env = {**live_env, "DATABASE_URL": postgres.url, "REDIS_URL": f"{redis.url}/0",
           "CELERY_BROKER_URL": f"{redis.url}/1", "FEDPLANE_VAR_DIR": str(tmp_path_factory.mktemp("outage-var")),
           "FEDPLANE_RATE_LIMIT_FAIL_OPEN_SECONDS": "60", "FEDPLANE_OUTAGE_RETRY_AFTER": "3"}
    server = None
    try:
        migrate(env)
        key = subprocess.run([sys.executable, "manage.py", "createadmin", "--quiet-key"], cwd=ROOT, env=env,
                             check=True, capture_output=True, text=True, timeout=120).stdout.strip()
        server, url = start_server(env, live_logs, "outage-web")
        yield Stack(url, key, postgres, redis, env)
    finally:
        if server is not None:
            server.stop()
        postgres.close()
        redis.close()


SIMULATION = {"algorithm": "fedavg", "runtime": "simulation",
              "config": {"rounds": 1, "minClients": 2, "numSupernodes": 2, "dataset": "digits"}}


def _create_model(stack: Stack) -> httpx.Response:
    return stack.call("POST", "/models", json={"model_id": f"m-{uuid.uuid4().hex[:10]}"})


def _unavailable(response: httpx.Response, dependency: str) -> None:
    error = error_of(response, 503, "SERVICE_UNAVAILABLE")
    assert error["details"]["dependency"] == dependency, error
    assert response.headers["Retry-After"] == "3"


def test_postgresql_stopped_answers_503_with_retry_after_then_recovers_by_itself(stack):
    data_of(stack.call("GET", "/models"))
    data_of(_create_model(stack), 201)
    # Keys the server has not verified yet: their lookup is a query (a verified key is kept a while).
    unseen = [stack.call("POST", "/auth/api-keys", json={"name": f"k{n}", "scopes": [Scope.REGIONS_MODELS_READ]}).json()["data"]["key"]
              for n in range(2)]

    retried = {"model_id": f"m-{uuid.uuid4().hex[:10]}"}

    stack.postgres.stop()  # fast shutdown: sessions cut, connections refused
    try:
        _unavailable(stack.call("GET", "/models"), "database")
        _unavailable(_create_model(stack), "database")
        _unavailable(stack.call("GET", "/auth/me", key=unseen[0]), "database")  # the API-key lookup
        _unavailable(stack.call("GET", "/auth/me", key="nosuch.key"), "database")
        _unavailable(stack.call("POST", "/models", json=retried, headers={"Idempotency-Key": "k-outage"}),
                     "database")
        deadline = time.monotonic() + 3  # a few seconds of mixed traffic: all 503, none 500
        while time.monotonic() < deadline:
            for response in (stack.call("GET", "/models"), _create_model(stack)):
                _unavailable(response, "database")
    finally:
        stack.postgres.start()

    # Back without a restart of the server: its broken connections are replaced.
    wait_until(lambda: stack.call("GET", "/models").status_code == 200, timeout=30, interval=0.2,
               message="API serving again after PostgreSQL restarted")
    data_of(_create_model(stack), 201)
    # The write refused during the outage runs when retried with its key, once.
    first = stack.call("POST", "/models", json=retried, headers={"Idempotency-Key": "k-outage"})
    data_of(first, 201)
    replay = stack.call("POST", "/models", json=retried, headers={"Idempotency-Key": "k-outage"})
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.json() == first.json()
    assert data_of(stack.call("GET", "/auth/me", key=unseen[1]))["data"]["authMethod"] == "apiKey"
    assert 500 not in stack.statuses


def test_rate_limiter_fails_open_while_redis_is_down_then_counts_again(stack):
    before = stack.call("GET", "/auth/me")
    data_of(before)
    counted = int(before.headers["X-RateLimit-Remaining"])

    stack.redis.stop(signal.SIGKILL)
    try:
        for _ in range(5):  # served, uncounted: the limiter cannot reach Redis
            response = stack.call("GET", "/auth/me")
            data_of(response)
            assert all(h in response.headers for h in RATE_HEADERS)
        data_of(stack.call("GET", "/models"))
        data_of(_create_model(stack), 201)  # its event reaches the log; the live push waits for Redis
        # Redis is the broker too: a write that queues a task cannot publish it.
        _unavailable(stack.call("POST", "/fl/executions", json=SIMULATION), "broker")
    finally:
        stack.redis.start()

    def counted_again() -> bool:  # a restarted Redis starts empty: two requests in a row count 1 and 2
        remaining = [int(stack.call("GET", "/auth/me").headers["X-RateLimit-Remaining"]) for _ in range(2)]
        return remaining[1] == remaining[0] - 1
    wait_until(counted_again, timeout=30, interval=0.2, message="requests counted again after Redis restarted")
    assert counted < 1000 and 500 not in stack.statuses


@pytest.fixture
def unreachable_redis(settings):
    """The rate limiter pointed at a port nothing listens on (in this process)."""
    from fedplane.api import ratelimit
    from tests.support.processes import free_port

    def reset():
        ratelimit._redis.cache_clear()
        ratelimit._script.cache_clear()
        ratelimit._outage.since = None
    reset()
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    yield
    reset()


@pytest.mark.django_db
def test_rate_limiter_fails_open_only_for_its_bound_then_answers_503(api, make_key, settings, unreachable_redis):
    plaintext, _ = make_key([])
    api.auth(plaintext)
    settings.RATE_LIMIT_FAIL_OPEN_SECONDS = 60
    for _ in range(3):
        data_of(api.get("/api/v1/auth/me"))  # uncounted, served

    settings.RATE_LIMIT_FAIL_OPEN_SECONDS = 0  # the outage has now lasted longer than the bound
    refused = api.get("/api/v1/auth/me")
    error = error_of(refused, 503, "SERVICE_UNAVAILABLE")
    assert error["details"]["dependency"] == "redis" and int(refused["Retry-After"]) > 0
