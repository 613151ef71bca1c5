"""The Channels group every event subscriber joins.

One group for the whole log, not one per system: each subscriber then receives every
position in turn, so a missing one means another process published out of order and the
subscriber reads the gap from the log (cursor.py). Subscribers filter by system themselves.
"""
__all__ = ["EVENTS_GROUP"]

EVENTS_GROUP = "events.log"
