"""Commit order for the event log.

Ids come from the insert, so two transactions that commit in the other order than they
inserted (PostgreSQL, concurrent writers) would let a subscriber see id 105 before 104
and skip 104 when it resumes "after 105". Positions close that gap: right after a
transaction that emitted events commits, `sequence_committed` numbers every committed,
unnumbered event, one sequencer at a time (a PostgreSQL advisory lock; SQLite's
IMMEDIATE transactions already hold its single write lock). A position is therefore
handed out only after its event is visible, and each one commits before the next is
handed out: reading "position > p" never skips anything.

A position is the event's own id unless a greater position was already handed out (an
event that committed late), then the next one after it. So positions mostly equal ids,
and they keep growing when old rows are deleted (ids never go back; a counter would).

The lock is taken in a transaction of its own that touches nothing but unnumbered event
rows, so its holder never waits for anything else and cannot deadlock. An event whose
process died between its commit and its numbering is numbered by the next emitter.
"""
from __future__ import annotations

from django.db import connection, transaction
from django.db.models import F, Max, Min

from .models import Event

__all__ = ["sequence_committed", "latest_position", "position_after"]

# pg_advisory_xact_lock key: "fedp" "evts" as two 32-bit words, unlikely to collide.
SEQUENCER_LOCK_KEY = 0x66656470_65767473


def sequence_committed() -> list[Event]:
    """Give committed events without a position the next positions, in id order; return them."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEQUENCER_LOCK_KEY])
        pending = list(Event.objects.filter(position__isnull=True).order_by("id"))
        if not pending:
            return []
        top = latest_position()
        late = []  # committed after a greater id was numbered: the next positions after it
        for event in pending:
            if event.id > top:
                break
            top = event.position = top + 1
            late.append(event)
        Event.objects.bulk_update(late, ["position"])
        in_order = pending[len(late):]  # the usual case: each its own id, in one statement
        for event in in_order:
            event.position = event.id
        Event.objects.filter(pk__in=[e.id for e in in_order]).update(position=F("id"))
    return pending


def latest_position() -> int:
    return Event.objects.aggregate(top=Max("position"))["top"] or 0


def position_after(event_id: int) -> int:
    """The position to read after, for a subscriber whose last event was `event_id`.

    A known event gives its own position. An id never seen (a client's guess, or 0 for
    "everything") starts just before the first event with a greater id: a few repeats
    rather than a miss.
    """
    if event_id <= 0:
        return 0
    own = Event.objects.filter(id=event_id).values_list("position", flat=True).first()
    if own is not None:
        return own
    later = Event.objects.filter(id__gt=event_id, position__isnull=False).aggregate(low=Min("position"))["low"]
    return later - 1 if later is not None else latest_position()
