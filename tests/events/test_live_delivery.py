"""Events committed by a real Celery worker reach real WebSocket and SSE subscribers
of a real ASGI server process, within a second; rolled-back events reach nobody."""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime

import httpx
import pytest
import websockets

from fedplane.api.scopes import Scope
from fedplane.ops.tasks import worker_ping

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def _ws_url(base: str, path: str) -> str:
    return base.replace("http://", "ws://") + path


async def _recv_until(ws, predicate, timeout: float) -> list[dict]:
    """Messages received until one satisfies `predicate` (inclusive)."""
    got = []
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            got.append(message)
            if predicate(message):
                return got


def _age_seconds(message: dict) -> float:
    stamp = datetime.fromisoformat(message["timestamp"].replace("Z", "+00:00"))
    return time.time() - stamp.timestamp()


def test_worker_event_reaches_websocket_within_a_second_and_rollback_reaches_nobody(
        live_server_url, celery_worker, make_key):
    key, _ = make_key([Scope.FL_METRICS_VIEW])
    token = uuid.uuid4().hex

    async def scenario():
        async with websockets.connect(_ws_url(live_server_url, "/api/v1/ws"),
                                      additional_headers={"X-API-Key": key}) as ws:
            await ws.send(json.dumps({"action": "subscribe", "events": ["platform.worker_ping"],
                                      "filters": {"token": token}}))
            assert json.loads(await ws.recv())["event"] == "subscribed"
            worker_ping.delay(token, rolled_back_first=True)
            return await _recv_until(ws, lambda m: m.get("event") == "platform.worker_ping", 20)

    received = asyncio.run(scenario())
    assert len(received) == 1, "the rolled-back event must never be delivered"
    event = received[0]
    assert event["data"]["token"] == token and "rolledBack" not in event["data"]
    assert _age_seconds(event) < 1.0


def test_filters_are_honoured(live_server_url, celery_worker, make_key):
    key, _ = make_key()
    wanted, other = uuid.uuid4().hex, uuid.uuid4().hex

    async def scenario():
        async with websockets.connect(_ws_url(live_server_url, f"/api/v1/ws?api_key={key}")) as ws:
            await ws.send(json.dumps({"action": "subscribe", "events": ["platform.*"],
                                      "filters": {"token": wanted}}))
            await ws.recv()
            worker_ping.delay(other)
            worker_ping.delay(wanted)
            return await _recv_until(ws, lambda m: m.get("data", {}).get("token") == wanted, 20)

    received = asyncio.run(scenario())
    assert [m["data"]["token"] for m in received] == [wanted]


def test_an_idle_subscriber_stays_connected_and_still_gets_events(live_server_url, celery_worker, make_key):
    """A dashboard left open with nothing happening is not torn down by the channel layer's blocking read."""
    key, _ = make_key()
    token = uuid.uuid4().hex
    idle_seconds = 7  # longer than the layer's blocking pop (5 s) and redis-py 8's default socket timeout (5 s)

    async def scenario():
        async with websockets.connect(_ws_url(live_server_url, f"/api/v1/ws?api_key={key}")) as ws:
            await ws.send(json.dumps({"action": "subscribe", "events": ["platform.worker_ping"],
                                      "filters": {"token": token}}))
            await ws.recv()
            await asyncio.sleep(idle_seconds)  # the idleness is what is under test, not a wait for something
            worker_ping.delay(token)
            return await _recv_until(ws, lambda m: m.get("data", {}).get("token") == token, 20)

    received = asyncio.run(scenario())
    assert received[-1]["event"] == "platform.worker_ping"


def test_sse_subscriber_gets_worker_event_and_resumes_from_last_id(live_server_url, celery_worker, make_key):
    key, _ = make_key()
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    url = f"{live_server_url}/api/v1/integration/events/stream"

    def read_until(response, token):
        event_id, events = None, []
        for line in response.iter_lines():
            if line.startswith("id: "):
                event_id = int(line[4:])
            elif line.startswith("data: "):
                message = json.loads(line[6:])
                events.append(message)
                if message["data"].get("token") == token:
                    return event_id, events
        raise AssertionError("stream ended")

    with httpx.Client(timeout=20) as client:
        with client.stream("GET", url, params={"systems": "platform"}, headers={"X-API-Key": key}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            worker_ping.delay(first)
            last_id, events = read_until(response, first)
            assert _age_seconds(events[-1]) < 1.0
        # Disconnected: this one is missed live, and must come back on resume.
        worker_ping.delay(second)
        from fedplane.events.models import Event
        from tests.support.processes import wait_until
        wait_until(lambda: Event.objects.filter(data__token=second).exists(), timeout=20, message="second event")
        with client.stream("GET", url, params={"systems": "platform"},
                           headers={"X-API-Key": key, "Last-Event-ID": str(last_id)}) as response:
            _, events = read_until(response, second)
            assert events[-1]["data"]["token"] == second


def test_socket_without_credentials_is_closed_4401_and_without_scope_4403(live_server_url, make_key):
    key, _ = make_key([])

    async def close_code(path, headers=None):
        async with websockets.connect(_ws_url(live_server_url, path), additional_headers=headers or {}) as ws:
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code

    assert asyncio.run(close_code("/fl/events")) == 4401
    assert asyncio.run(close_code("/fl/events", {"X-API-Key": key})) == 4403


def test_a_browser_token_offered_as_subprotocol_is_accepted_and_kept_out_of_the_url(
        live_server_url, celery_worker, make_user):
    """Browsers cannot set headers on a WebSocket; the dashboard offers its JWT as a subprotocol."""
    from fedplane.dashboard.services import dashboard_token

    access = dashboard_token(user=make_user([Scope.FL_METRICS_VIEW], superuser=True))["access"]
    token = uuid.uuid4().hex

    async def scenario():
        async with websockets.connect(_ws_url(live_server_url, "/api/v1/ws"),
                                      subprotocols=["fedplane.bearer", access]) as ws:
            assert ws.subprotocol == "fedplane.bearer"
            await ws.send(json.dumps({"action": "subscribe", "events": ["platform.worker_ping"],
                                      "filters": {"token": token}}))
            assert json.loads(await ws.recv())["event"] == "subscribed"
            worker_ping.delay(token)
            return await _recv_until(ws, lambda m: m.get("event") == "platform.worker_ping", 20)

    assert asyncio.run(scenario())[-1]["data"]["token"] == token

    async def forged():
        async with websockets.connect(_ws_url(live_server_url, "/api/v1/ws"),
                                      subprotocols=["fedplane.bearer", "not-a-jwt"]) as ws:
            return json.loads(await ws.recv())

    assert asyncio.run(forged())["error"]["code"] == "UNAUTHORIZED"
