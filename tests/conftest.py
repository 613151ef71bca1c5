"""Shared fixtures: users and credentials, an API client, and the live stack
(real ASGI server processes and a real Celery worker on the test database)."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from tests.support.processes import start_server, start_worker, wait_until


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """Every test starts with no request counted against anyone. Test databases hand out
    the same user ids again (rolled-back tests, a new database per run), and the
    counters live outside the database (Redis, or the file cache that outlives a run)."""
    from django.core.cache import cache

    from fedplane.api.ratelimit import _redis

    client = _redis()
    if client is None:
        cache.clear()
    else:
        keys = list(client.scan_iter("ratelimit:*", count=1000))
        if keys:
            client.delete(*keys)


@pytest.fixture
def make_user(django_user_model):
    """A user holding exactly `scopes` (through scope-named groups)."""
    from django.contrib.auth.models import Group

    def make(scopes=(), *, superuser=False, username=None):
        user = django_user_model.objects.create_user(
            username=username or f"user-{uuid.uuid4().hex[:8]}", password="pw-for-tests-1",
            is_superuser=superuser, is_staff=superuser)
        for scope in scopes:
            user.groups.add(Group.objects.get_or_create(name=scope)[0])
        return user
    return make


@pytest.fixture
def make_key(make_user):
    """(plaintext API key, ApiKey row) for a new user holding `scopes`."""
    from fedplane.api.services import api_key_issue

    def make(scopes=(), *, user=None):
        user = user or make_user(scopes)
        key, plaintext = api_key_issue(user=user, name="test", scopes=list(scopes))
        return plaintext, key
    return make


@pytest.fixture
def api(client):
    """Django test client speaking JSON."""
    class Api:
        def __init__(self):
            self.headers = {}

        def auth(self, key):
            self.headers = {"HTTP_X_API_KEY": key}
            return self

        def call(self, method, path, data=None, **extra):
            import json
            kwargs = {**self.headers, **extra}
            if data is not None and not isinstance(data, (str, bytes)):
                data = json.dumps(data)
            return getattr(client, method)(path, data=data, content_type="application/json", **kwargs)

        def get(self, path, **extra):
            return client.get(path, **{**self.headers, **extra})

        def post(self, path, data=None, **extra):
            return self.call("post", path, data, **extra)

        def put(self, path, data=None, **extra):
            return self.call("put", path, data, **extra)

        def delete(self, path, **extra):
            return client.delete(path, **{**self.headers, **extra})
    return Api()


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture(scope="session")
def live_env(django_db_setup, django_db_blocker, tmp_path_factory) -> dict[str, str]:
    """Environment for child processes: same settings, pointed at the test database."""
    # Workers' background region probes stay off: live tests probe (and fail over) when they choose.
    env = {**os.environ, "DATABASE_URL": _database_url(), "FEDPLANE_VAR_DIR": str(settings.VAR_DIR),
           "PYTHONUNBUFFERED": "1", "REGIONS_BACKGROUND_PROBE_SECONDS": "0"}
    return env


@pytest.fixture(scope="session")
def live_logs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("live-logs")


@pytest.fixture(scope="session")
def live_server_url(live_env, live_logs):
    proc, base = start_server(live_env, live_logs, "web-a")
    yield base
    proc.stop()


@pytest.fixture(scope="session")
def second_server_url(live_env, live_logs):
    proc, base = start_server(live_env, live_logs, "web-b")
    yield base
    proc.stop()


@pytest.fixture(scope="session")
def celery_worker(live_env, live_logs, django_db_blocker):
    """A real Celery worker process; ready once it has run a ping task end to end."""
    from fedplane.events.models import Event
    from fedplane.ops.tasks import worker_ping

    worker = start_worker(live_env, live_logs)
    token = f"ready-{uuid.uuid4().hex}"
    worker_ping.delay(token)

    def pinged():
        if not worker.alive():
            raise RuntimeError(f"worker exited:\n{worker.log_tail()}")
        with django_db_blocker.unblock():
            return Event.objects.filter(type="platform.worker_ping", data__token=token).exists()

    wait_until(pinged, timeout=90, interval=0.2, message="celery worker ready")
    yield worker
    worker.stop()


@pytest.fixture
def http():
    with httpx.Client(timeout=10) as client:
        yield client


# The live federated-learning fixtures (SuperLink, server, worker, joined clients).
from tests.support.fl import (digits, fl_env, fl_http, fl_key, fl_server_url, fl_superlink,  # noqa: E402,F401
                              fl_worker, join_clients)
# runplatform on a PostgreSQL and a Redis of its own, which fault tests kill (and its clients).
from tests.support.platform import platform_clients, platform_stack  # noqa: E402,F401
