"""Embedded-mode delivery: tail the event log and publish new rows in this process.

The in-memory channel layer lives inside one process, so an event committed by a
Celery worker cannot be pushed to it. Each server process that has subscribers
runs one relay task instead, polling for ids above the last it published.
"""
from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db.models import Max

from .groups import group_for_system
from .models import Event

__all__ = ["ensure_relay"]

log = logging.getLogger(__name__)
_relays: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}


@database_sync_to_async
def _latest_id() -> int:
    return Event.objects.aggregate(top=Max("id"))["top"] or 0


@database_sync_to_async
def _events_after(last_id: int) -> list[dict]:
    return [e.as_message() for e in Event.objects.filter(id__gt=last_id).order_by("id")[:500]]


async def _run(last_id: int) -> None:
    layer = get_channel_layer()
    while True:
        try:
            for message in await _events_after(last_id):
                await layer.group_send(group_for_system(message["system"]),
                                       {"type": "event.message", "event": message})
                last_id = message["id"]
        except Exception:
            log.exception("event relay failed to read the log; retrying")
        await asyncio.sleep(settings.EVENTS_POLL_INTERVAL)


async def ensure_relay() -> None:
    """Start this event loop's relay once, when the first subscriber arrives.

    The starting id is read before returning, so everything committed after a
    subscriber's replay query is published by the relay.
    """
    if settings.EVENTS_DELIVERY != "poll":
        return
    loop = asyncio.get_running_loop()
    task = _relays.get(loop)
    if task is None or task.done():
        _relays[loop] = loop.create_task(_run(await _latest_id()))
