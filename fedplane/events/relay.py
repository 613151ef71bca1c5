"""Embedded-mode delivery: tail the event log and publish new rows in this process.

The in-memory channel layer lives inside one process, so an event committed by a
Celery worker cannot be pushed to it. Each server process that has subscribers
runs one relay task instead, polling for positions above the last it published.
"""
from __future__ import annotations

import asyncio
import contextvars
import logging

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from .cursor import read_log
from .groups import EVENTS_GROUP
from .sequencing import latest_position

__all__ = ["ensure_relay"]

log = logging.getLogger(__name__)
_relays: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}


async def _run(position: int) -> None:
    layer = get_channel_layer()
    while True:
        try:
            async for delivery in read_log(position):
                await layer.group_send(EVENTS_GROUP, {"type": "event.message", **delivery})
                position = delivery["position"]
        except Exception:
            log.exception("event relay failed to read the log; retrying")
        await asyncio.sleep(settings.EVENTS_POLL_INTERVAL)


async def ensure_relay() -> None:
    """Start this event loop's relay once, when the first subscriber arrives.

    Subscribers read their own starting position from the log; whatever the relay
    publishes at or below it they skip, anything after a gap they read from the log.
    """
    if settings.EVENTS_DELIVERY != "poll":
        return
    loop = asyncio.get_running_loop()
    task = _relays.get(loop)
    if task is None or task.done():
        start = await database_sync_to_async(latest_position)()
        # A context of its own: the caller's may bind database work to a request's thread
        # (an async view runs inside the request's sync thread), which is gone afterwards.
        _relays[loop] = loop.create_task(_run(start), context=contextvars.Context())
