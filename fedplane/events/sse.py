"""Server-Sent Events at /api/v1/integration/events/stream.

Query: `types` and `systems` (comma-separated or repeated). A client that
reconnects sends `Last-Event-ID` (browsers do it themselves) or `lastEventId`
and first receives what it missed, in commit order (cursor.py); 0 replays the whole history, and
anything but an integer from 0 to 2**63-1 is 422. Needs the ASGI server: the response is an
async stream held open with a keep-alive comment every 15 seconds.
"""
from __future__ import annotations

import asyncio

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.http import StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from fedplane.api.envelope import dumps
from fedplane.api.errors import ErrorCode
from fedplane.api.middleware import json_error

from .auth import principal_from
from .cursor import EventCursor
from .groups import EVENTS_GROUP
from .models import System
from .relay import ensure_relay
from .subscriptions import Subscription

__all__ = ["event_stream"]

KEEPALIVE_SECONDS = 15
MAX_EVENT_ID = 2**63 - 1  # Event.id is a 64-bit integer


def _listed(request, name: str) -> list[str]:
    return [part for raw in request.GET.getlist(name) for part in raw.split(",") if part.strip()]


def _frame(message: dict) -> bytes:
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (message["id"], message["event"].encode(), dumps(message))


async def _stream(layer, channel: str, cursor: EventCursor, subscription: Subscription):
    try:
        yield b"retry: 2000\n\n"
        # What committed since the cursor started: everything after Last-Event-ID when resuming.
        async for message in cursor.catch_up():
            if subscription.matches(message):
                yield _frame(message)
        while True:
            try:
                received = await asyncio.wait_for(layer.receive(channel), timeout=KEEPALIVE_SECONDS)
            except asyncio.TimeoutError:
                yield b": keep-alive\n\n"
                continue
            for message in await cursor.receive(received):
                if subscription.matches(message):
                    yield _frame(message)
    finally:
        await layer.group_discard(EVENTS_GROUP, channel)


@csrf_exempt  # credentials come in headers or the query string, never from cookies
async def event_stream(request):
    if request.method != "GET":
        response = json_error(405, ErrorCode.METHOD_NOT_ALLOWED, f'Method "{request.method}" not allowed.',
                              request=request)
        response["Allow"] = "GET"
        return response
    headers = {k.lower().replace("_", "-"): v for k, v in request.headers.items()}
    principal = await database_sync_to_async(principal_from)(headers, request.META.get("QUERY_STRING", ""))
    if principal is None:
        return json_error(401, ErrorCode.UNAUTHORIZED, "Send an API key or a bearer token.", request=request)
    raw_last = request.headers.get("Last-Event-ID") or request.GET.get("lastEventId")
    try:
        last_id = int(raw_last) if raw_last not in (None, "") else None
    except ValueError:
        last_id = -1
    if last_id is not None and not 0 <= last_id <= MAX_EVENT_ID:
        # An id no event can have (-5 silently replayed the whole history, as 0 asks): refused like junk.
        return json_error(422, ErrorCode.VALIDATION_ERROR,
                          f"Last-Event-ID must be an event id, an integer from 0 to {MAX_EVENT_ID}.",
                          {"lastEventId": str(raw_last)[:100]}, request=request)
    subscription = Subscription.build(_listed(request, "types"), None, _listed(request, "systems"))
    unknown = subscription.systems - set(System.values)
    if unknown:
        return json_error(422, ErrorCode.VALIDATION_ERROR, f"unknown systems: {sorted(unknown)}", request=request)
    # Subscribed before the headers go out: whatever commits once the client has its 200 reaches it.
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(EVENTS_GROUP, channel)
    cursor = await EventCursor.start(subscription.systems, after_event_id=last_id)
    await ensure_relay()
    response = StreamingHttpResponse(_stream(layer, channel, cursor, subscription), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
