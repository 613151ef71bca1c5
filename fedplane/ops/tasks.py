"""Worker diagnostics: a ping that proves a worker runs and can commit events."""
from __future__ import annotations

import socket

from celery import shared_task
from django.db import transaction

from fedplane.events.services import emit

__all__ = ["worker_ping"]


class _RolledBack(Exception):
    pass


@shared_task(name="ops.worker_ping")
def worker_ping(token: str, *, rolled_back_first: bool = False, data: dict | None = None) -> str:
    """Emit `platform.worker_ping` with `token`.

    With `rolled_back_first`, first emits the same event inside a transaction that
    rolls back: that one must reach no subscriber (the event log's guarantee).
    """
    payload = {"token": token, "worker": socket.gethostname(), **(data or {})}
    if rolled_back_first:
        try:
            with transaction.atomic():
                emit("platform.worker_ping", {**payload, "rolledBack": True})
                raise _RolledBack
        except _RolledBack:
            pass
    with transaction.atomic():
        emit("platform.worker_ping", payload)
    return token
