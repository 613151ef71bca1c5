"""Public liveness and readiness probes are answered on the event loop by Django's own chain and view
(fedplane/api/lean.py, `_probe`): the same answers as through Django's handler, and anything that
could read the database (a cookie, credentials, a query string) still goes through Django."""
from __future__ import annotations

import httpx
import pytest
from asgiref.sync import async_to_sync

from fedplane.api.lean import LeanRouter

pytestmark = pytest.mark.django_db(transaction=True)

PROBES = ["/livez", "/v2/health/live", "/v2/health/ready"]


def get(path: str, headers: dict | None = None) -> httpx.Response:
    from fedplane.asgi import application

    async def go():
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.get(path, headers=headers or {})
    return async_to_sync(go)()


@pytest.fixture
def on_loop(monkeypatch) -> list[str]:
    """The paths the loop answered, in order."""
    answered = []
    probe = LeanRouter._probe

    async def noted(self, scope, send):
        answered.append(scope["path"])
        return await probe(self, scope, send)
    monkeypatch.setattr(LeanRouter, "_probe", noted)
    return answered


def _comparable(response: httpx.Response) -> tuple:
    headers = {k.lower(): v for k, v in response.headers.items() if k.lower() not in ("x-request-id", "date")}
    body = response.json()
    if isinstance(body, dict):
        body.pop("meta", None)  # the envelope's request id and timestamp
    return response.status_code, headers, body


@pytest.mark.parametrize("path", PROBES)
def test_probes_answer_on_the_loop_as_django_does(path, on_loop, settings):
    settings.LEAN_INFERENCE_PATH = False  # everything through Django's handler
    through_django = get(path)
    assert on_loop == []
    settings.LEAN_INFERENCE_PATH = True
    on_the_loop = get(path)
    assert on_loop == [path]
    assert on_the_loop.status_code == 200
    assert _comparable(on_the_loop) == _comparable(through_django)
    assert on_the_loop.headers["X-Request-ID"] and on_the_loop.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("headers,path", [({"Cookie": "sessionid=abc"}, "/livez"),
                                          ({"X-API-Key": "fp_x.y"}, "/v2/health/live"),
                                          ({"Authorization": "Bearer x"}, "/v2/health/ready"),
                                          ({}, "/v2/health/live?verbose=1"),
                                          ({}, "/readyz")])
def test_requests_that_could_read_the_database_go_through_django(headers, path, on_loop):
    response = get(path, headers)
    assert response.status_code in (200, 503)
    assert on_loop == []
