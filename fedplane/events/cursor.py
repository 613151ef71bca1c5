"""Where one subscriber stands in the event log: every committed event once, in commit order.

Live deliveries arrive through the channel layer tagged with their position. The next
position is sent straight on; anything after a gap (another process published out of
order, a publish was lost, the subscriber resumed) is read from the log instead, so
what a subscriber sees is always a prefix of the log in commit order. Resuming after the
last event seen therefore misses nothing.
"""
from __future__ import annotations

from channels.db import database_sync_to_async

from .models import Event, System
from .sequencing import latest_position, position_after

__all__ = ["EventCursor", "read_log"]

PAGE = 500


@database_sync_to_async
def _page(after: int, systems: frozenset[str], until: int | None) -> list[dict]:
    rows = Event.objects.filter(position__gt=after, system__in=systems)
    if until is not None:
        rows = rows.filter(position__lte=until)
    return [e.as_delivery() for e in rows.order_by("position")[:PAGE]]


async def read_log(after: int, systems: frozenset[str] = frozenset(System.values), until: int | None = None):
    """Yield the deliveries of positions (after, until] of `systems`, in commit order."""
    while True:
        page = await _page(after, systems, until)
        for delivery in page:
            after = delivery["position"]
            yield delivery
        if len(page) < PAGE:
            return


class EventCursor:
    def __init__(self, position: int, systems: frozenset[str]):
        self.position = position
        self.systems = systems

    @classmethod
    async def start(cls, systems, after_event_id: int | None = None) -> "EventCursor":
        """At the log's end, or just after the event a resuming subscriber saw last."""
        if after_event_id is None:
            position = await database_sync_to_async(latest_position)()
        else:
            position = await database_sync_to_async(position_after)(after_event_id)
        return cls(position, frozenset(systems))

    async def receive(self, delivery: dict) -> list[dict]:
        """The wire messages a live delivery releases: none, itself, or the gap before it too."""
        position = delivery["position"]
        if position <= self.position:
            return []  # already sent, from the log
        if position == self.position + 1:
            self.position = position
            event = delivery["event"]
            return [event] if event["system"] in self.systems else []
        return [m async for m in self.catch_up()]

    async def catch_up(self):
        """Yield every committed event after the cursor from the log, advancing it."""
        async for delivery in read_log(self.position, self.systems):
            self.position = delivery["position"]
            yield delivery["event"]

    async def replay(self, after_event_id: int):
        """Yield what a subscriber that saw `after_event_id` last missed, up to this cursor."""
        after = await database_sync_to_async(position_after)(after_event_id)
        async for delivery in read_log(after, self.systems, until=self.position):
            yield delivery["event"]
