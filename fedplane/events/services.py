"""`emit` / `emit_many`: write events in the caller's transaction, publish them once that commits."""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any, NamedTuple

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from .groups import EVENTS_GROUP
from .models import Event, Severity, System
from .sequencing import sequence_committed

__all__ = ["NewEvent", "emit", "emit_many", "publish_committed", "broadcast", "system_of"]

log = logging.getLogger(__name__)
_unsequenced = threading.local()  # this thread emitted events not yet numbered

_SYSTEM_BY_PREFIX = {
    "application": System.FEDERATION, "module": System.FEDERATION, "dependency": System.FEDERATION,
    "app": System.FEDERATION, "runtime": System.FEDERATION, "federation": System.FEDERATION,
    "execution": System.FL, "round": System.FL, "client": System.FL, "model": System.FL,
    "metrics": System.FL, "aggregation": System.FL,
    "region": System.REGIONS, "replication": System.REGIONS, "deployment": System.REGIONS,
    "failover": System.REGIONS, "prediction": System.REGIONS,
    "integration": System.INTEGRATION,
}


def system_of(event_type: str) -> str:
    return _SYSTEM_BY_PREFIX.get(event_type.split(".", 1)[0], System.PLATFORM)


def _default_severity(event_type: str) -> str:
    suffix = event_type.rsplit(".", 1)[-1]
    return Severity.ERROR if suffix in ("error", "failed") else Severity.INFO


class NewEvent(NamedTuple):
    """An event to write with `emit_many`; severity and system default as in `emit`."""

    type: str
    data: dict[str, Any]
    severity: str | None = None
    system: str | None = None
    request_id: str = ""


def emit(event_type: str, data: dict[str, Any], *, severity: str | None = None,
         system: str | None = None, request_id: str = "") -> Event:
    """Record an event as part of the current transaction.

    Subscribers see it only after the transaction commits; if it rolls back, the
    event never existed. Once it commits, the event gets its position in commit order
    (sequencing.py) and, with a shared channel layer, is published; otherwise each
    server process tails the log (see relay.py).
    """
    event = Event.objects.create(**_fields(NewEvent(event_type, data, severity, system, request_id)))
    _publish_after_commit()
    return event


def emit_many(events: Iterable[NewEvent]) -> list[Event]:
    """Record several events with one INSERT, in the given order, as `emit` records one.

    Per-client events of a round cost one statement however many clients there are. The
    insert returns their ids (RETURNING, on SQLite and PostgreSQL alike); after the commit
    they are numbered and published with everything else this thread emitted.
    """
    rows = [Event(**_fields(event)) for event in events]
    if not rows:
        return []
    created = Event.objects.bulk_create(rows)
    _publish_after_commit()
    return created


def _fields(event: NewEvent) -> dict[str, Any]:
    return {"type": event.type, "system": event.system or system_of(event.type),
            "severity": event.severity or _default_severity(event.type), "data": event.data,
            "request_id": event.request_id}


def _publish_after_commit() -> None:
    # One callback per write (a savepoint may drop some); the first to run numbers all of them.
    _unsequenced.pending = True
    transaction.on_commit(publish_committed, robust=True)


def publish_committed() -> None:
    """Number the events committed so far and publish them, in position order."""
    if not getattr(_unsequenced, "pending", False):
        return
    _unsequenced.pending = False
    events = sequence_committed()
    if not events or settings.EVENTS_DELIVERY != "push":
        return
    broadcast([e.as_delivery() for e in events])


def broadcast(deliveries: list[dict]) -> None:
    """Publish sequenced events (see Event.as_delivery) to every subscriber's group."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(_send_all)(layer, deliveries)
    except Exception:  # the events are in the log; subscribers catch up from it
        log.exception("could not publish events up to position %s; subscribers catch up on the next one",
                      deliveries[-1]["position"])


async def _send_all(layer, deliveries: list[dict]) -> None:
    for delivery in deliveries:
        await layer.group_send(EVENTS_GROUP, {"type": "event.message", **delivery})
