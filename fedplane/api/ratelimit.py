"""Per-caller request counters shared by every server process.

A window opens at a caller's first request and lasts `RATE_LIMIT_WINDOW_SECONDS`,
so no hour boundary splits a burst. Redis (production) counts atomically with
SET NX EX + INCR in one round trip; the embedded default keeps the counter in
Django's file cache (good enough for one machine, not atomic under contention).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

import redis
from django.conf import settings
from django.core.cache import cache

__all__ = ["Window", "hit", "peek"]


@dataclass(frozen=True)
class Window:
    count: int
    reset_at: int  # unix seconds when the window closes


@lru_cache(maxsize=1)
def _redis() -> redis.Redis | None:
    return redis.Redis.from_url(settings.REDIS_URL) if settings.REDIS_URL else None


def hit(key: str, window_seconds: int) -> Window:
    """Count one request against `key` and return the window it falls in."""
    client = _redis()
    now = time.time()
    if client is not None:
        pipe = client.pipeline(transaction=False)
        pipe.set(key, 0, ex=window_seconds, nx=True)
        pipe.incr(key)
        pipe.ttl(key)
        _, count, ttl = pipe.execute()
        return Window(count=int(count), reset_at=int(now + max(ttl, 0)))
    state = cache.get(key)
    if state is None or state["reset_at"] <= now:
        state = {"count": 0, "reset_at": int(now + window_seconds)}
    state["count"] += 1
    cache.set(key, state, timeout=max(1, int(state["reset_at"] - now)))
    return Window(count=state["count"], reset_at=state["reset_at"])


def peek(key: str, window_seconds: int) -> Window:
    """The window `key` is in, without counting a request."""
    client = _redis()
    now = time.time()
    if client is not None:
        count, ttl = client.pipeline(transaction=False).get(key).ttl(key).execute()
        if count is None or ttl < 0:
            return Window(count=0, reset_at=int(now + window_seconds))
        return Window(count=int(count), reset_at=int(now + ttl))
    state = cache.get(key)
    if state is None or state["reset_at"] <= now:
        return Window(count=0, reset_at=int(now + window_seconds))
    return Window(count=state["count"], reset_at=state["reset_at"])
