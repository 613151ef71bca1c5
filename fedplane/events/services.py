"""`emit`: write an event in the caller's transaction, publish it once that commits."""
from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from .groups import group_for_system
from .models import Event, Severity, System

__all__ = ["emit", "broadcast", "system_of"]

log = logging.getLogger(__name__)

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


def emit(event_type: str, data: dict[str, Any], *, severity: str | None = None,
         system: str | None = None, request_id: str = "") -> Event:
    """Record an event as part of the current transaction.

    Subscribers see it only after the transaction commits; if it rolls back, the
    event never existed. With a shared channel layer the publish happens on commit;
    otherwise each server process tails the log (see relay.py).
    """
    event = Event.objects.create(
        type=event_type,
        system=system or system_of(event_type),
        severity=severity or _default_severity(event_type),
        data=data,
        request_id=request_id,
    )
    if settings.EVENTS_DELIVERY == "push":
        message = event.as_message()
        transaction.on_commit(lambda: broadcast(message), robust=True)
    return event


def broadcast(message: dict) -> None:
    """Publish a committed event to its system's Channels group."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group_for_system(message["system"]),
                                        {"type": "event.message", "event": message})
    except Exception:  # the event is in the log; subscribers resume from it
        log.exception("could not publish event %s; subscribers will see it on resume", message["id"])
