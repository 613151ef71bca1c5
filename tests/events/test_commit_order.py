"""Subscribers read the event log in commit order: a resuming or out-of-order subscriber misses nothing."""
from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.db import connection, connections, transaction

from fedplane.events.cursor import EventCursor
from fedplane.events.models import Event
from fedplane.events.sequencing import latest_position
from fedplane.events.services import emit
from tests.support.processes import start_server

pytestmark = pytest.mark.django_db(transaction=True)


def _read_until(response, token: str) -> int:
    """The SSE id of the event carrying `token`."""
    event_id, deadline = None, time.monotonic() + 20  # keep-alive lines come every 15 s
    for line in response.iter_lines():
        assert time.monotonic() < deadline, f"no event with token {token} within 20 s"
        if line.startswith("id: "):
            event_id = int(line[4:])
        elif line.startswith("data: ") and json.loads(line[6:])["data"].get("token") == token:
            return event_id
    raise AssertionError("stream ended")


def _emit_committed(token: str) -> Event:
    with transaction.atomic():
        event = emit("platform.probe", {"token": token})
    return Event.objects.get(pk=event.pk)


def test_events_are_numbered_in_commit_order_once_committed():
    with transaction.atomic():
        first = emit("platform.probe", {"n": 1})
        second = emit("platform.probe", {"n": 2})
        assert first.position is None, "a position is only handed out after the commit"
    third = _emit_committed("3")
    positions = [Event.objects.get(pk=e.pk).position for e in (first, second)] + [third.position]
    assert positions == sorted(positions) and len(set(positions)) == 3


def test_a_cursor_that_receives_a_later_event_first_reads_the_gap_from_the_log_once():
    start = latest_position()
    events = [_emit_committed(f"gap-{n}") for n in range(3)]
    cursor = EventCursor(start, frozenset({"platform"}))

    async def deliver_out_of_order():
        late = await cursor.receive(events[2].as_delivery())
        early = await cursor.receive(events[0].as_delivery())
        again = await cursor.receive(events[1].as_delivery())
        await sync_to_async(connections.close_all)()  # the cursor's thread: leave the test database free
        return late, early, again

    late, early, again = asyncio.run(deliver_out_of_order())
    ours = [m["data"]["token"] for m in late if str(m["data"].get("token")).startswith("gap-")]
    assert ours == ["gap-0", "gap-1", "gap-2"]
    assert early == [] and again == [], "nothing is sent twice"
    assert cursor.position == events[2].position


def test_history_after_an_event_lists_what_committed_after_it_in_commit_order(api, make_key):
    key, _ = make_key()
    first, second, third = (_emit_committed(f"history-{n}") for n in range(3))
    # As if `first` had committed last: it moves behind the others in commit order.
    Event.objects.filter(pk=first.pk).update(position=third.position + 1)
    response = api.auth(key).get("/api/v1/integration/events", data={"afterId": second.id, "system": "platform"})
    assert response.status_code == 200
    assert [e["data"]["token"] for e in response.json()["data"]
            if str(e["data"].get("token")).startswith("history-")] == ["history-2", "history-0"]


@pytest.mark.live
def test_an_event_committed_after_a_later_one_reaches_a_resuming_sse_subscriber(live_server_url, make_key):
    """Two writers: the first inserts, the second inserts and commits, then the first commits.

    The subscriber saw the second (the greater id) and reconnects after it; the first,
    committed later with a smaller id, must still come.
    """
    if connection.vendor != "postgresql":
        pytest.skip("SQLite lets one writer in at a time: ids always commit in order there")
    key, _ = make_key()
    early, late = uuid.uuid4().hex, uuid.uuid4().hex
    inserted, release = threading.Event(), threading.Event()
    url = f"{live_server_url}/api/v1/integration/events/stream"

    def slow_writer():
        try:
            with transaction.atomic():
                emit("platform.probe", {"token": early})
                inserted.set()
                release.wait(30)
        finally:
            connection.close()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    try:
        assert inserted.wait(10)
        with httpx.Client(timeout=20) as client:
            with client.stream("GET", url, params={"systems": "platform"}, headers={"X-API-Key": key}) as response:
                late_id = _emit_committed(late).id
                assert _read_until(response, late) == late_id
            release.set()
            writer.join(10)
            early_event = Event.objects.get(data__token=early)
            assert early_event.id < late_id, "the writers interleaved: the late commit has the smaller id"
            with client.stream("GET", url, params={"systems": "platform"},
                               headers={"X-API-Key": key, "Last-Event-ID": str(late_id)}) as response:
                assert _read_until(response, early) == early_event.id
    finally:
        release.set()
        writer.join(10)


@pytest.mark.live
def test_an_sse_stream_first_to_subscribe_on_a_server_without_redis_gets_events(live_env, live_logs, make_key):
    """Without Redis each server process tails the log, started by its first subscriber.

    An SSE request that was first used to start that tail from inside its own request
    thread, which is gone once the headers are out: the stream then stayed silent.
    """
    env = {k: v for k, v in live_env.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL")}
    server, base = start_server(env, live_logs, "web-tail")
    key, _ = make_key()
    token = uuid.uuid4().hex
    try:
        with httpx.Client(timeout=20) as client:
            with client.stream("GET", f"{base}/api/v1/integration/events/stream", params={"systems": "platform"},
                               headers={"X-API-Key": key}) as response:
                event = _emit_committed(token)  # the 200 came after the subscription
                assert _read_until(response, token) == event.id
    finally:
        server.stop()
