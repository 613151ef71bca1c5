"""kombu's Redis transport with one fix: a channel of a connection that is already gone raises
a connection error, not AttributeError.

When the broker dies, Celery collects the connection (`Connection.collect`): it closes the
transport's channels, each restoring its unacknowledged messages, then sets the transport's
`client` to None. With Redis down, the first channel's restore fails and the loop over the
channels stops there, so the others stay open. Whatever touches one of them later (closing it
restores its unacked messages; acking a task that finished meanwhile) rebuilds a connection pool
from `self.connection.client.hostname` and raises
`AttributeError("'NoneType' object has no attribute 'hostname'")`. Celery treats only connection
errors as recoverable, so the worker's main process exits ("Unrecoverable error"). Upstream:
celery/kombu#582 and #970 (the same traceback, closed without a fix for this path); kombu 5.7.0,
the newest release on the index, still has it (tests/ops/test_broker_outage.py shows it).

Raised as redis' ConnectionError instead, Celery logs it and reconnects. Nothing is lost: a
message that could not be acked or restored stays in Redis' `unacked` set, and kombu restores it
after the visibility timeout (an execution's takeover does not wait for that: flcore/sweeper.py).
"""
from __future__ import annotations

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

__all__ = ["Channel", "Transport", "install"]


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous=False):
        if self.connection is None or self.connection.client is None:
            raise RedisConnectionError("the broker connection of this channel was closed after an outage")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel


def install() -> None:
    """Make `redis://` and `rediss://` broker URLs use this transport (kombu resolves them by alias)."""
    TRANSPORT_ALIASES["redis"] = TRANSPORT_ALIASES["rediss"] = f"{__name__}:Transport"
