"""Periodic streams a socket can ask for with `{"action": "stream", "type": ...}`.

Apps register a provider per type (flcore registers "metrics"); this module knows no app.
"""
from __future__ import annotations

from typing import Awaitable, Callable

__all__ = ["register_stream", "stream_provider", "StreamError"]

Provider = Callable[[dict, object], Awaitable[dict]]
_providers: dict[str, tuple[Provider, str | None]] = {}


class StreamError(Exception):
    """A stream request that cannot be served (unknown type, missing object)."""


def register_stream(stream_type: str, provider: Provider, *, scope: str | None = None) -> None:
    _providers[stream_type] = (provider, scope)


def stream_provider(stream_type: str) -> tuple[Provider, str | None]:
    try:
        return _providers[stream_type]
    except KeyError:
        raise StreamError(f"unknown stream type {stream_type!r}; known: {sorted(_providers)}") from None
