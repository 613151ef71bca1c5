"""Per-caller request counters shared by every server process.

A window opens at a caller's first request and lasts `RATE_LIMIT_WINDOW_SECONDS`,
so no hour boundary splits a burst. Redis (production) counts every bucket of a
request in one round trip: a Lua script that increments the buckets in order,
atomically, and stops at the first one over its limit. The embedded default keeps one
small file per counter next to Django's file cache, read and rewritten under an
exclusive `flock`: atomic across the processes of one machine, and cheap (no pickle,
no temp file and rename); `cache.clear()` removes these files with the cache's own.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import struct
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import redis
from django.conf import settings
from django.core.cache import cache

__all__ = ["Window", "hit", "hit_buckets", "peek"]

_RECORD = struct.Struct("<qq")  # count, reset_at (unix seconds)

# KEYS: counters in order; ARGV: window seconds, then one limit per key. Returns count, ttl
# per key counted; stops after the first key over its limit, as the throttle would.
_HIT_SCRIPT = """
local out = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  local ttl = redis.call('TTL', key)
  if ttl < 0 then
    redis.call('EXPIRE', key, ARGV[1])
    ttl = tonumber(ARGV[1])
  end
  out[#out + 1] = count
  out[#out + 1] = ttl
  if count > tonumber(ARGV[i + 1]) then break end
end
return out
"""


@dataclass(frozen=True)
class Window:
    count: int
    reset_at: int  # unix seconds when the window closes


@lru_cache(maxsize=1)
def _redis() -> redis.Redis | None:
    return redis.Redis.from_url(settings.REDIS_URL) if settings.REDIS_URL else None


@lru_cache(maxsize=1)
def _script():
    return _redis().register_script(_HIT_SCRIPT)


@lru_cache(maxsize=1)
def _counter_dir() -> Path | None:
    """The file cache's folder, when the default cache is Django's file cache."""
    conf = settings.CACHES["default"]
    if not conf["BACKEND"].endswith("filebased.FileBasedCache"):
        return None
    folder = Path(conf["LOCATION"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@lru_cache(maxsize=4096)
def _counter_path(folder: Path, key: str) -> str:
    # The file cache's suffix, so that cache.clear() resets the counters too. Kept per key:
    # hashing and pathlib joins cost ~20 us per request.
    return os.path.join(folder, f"ratelimit-{hashlib.sha1(key.encode()).hexdigest()}.djcache")


def _file_hit(folder: Path, key: str, window_seconds: int, now: float) -> Window:
    fd = os.open(_counter_path(folder, key), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        raw = os.pread(fd, _RECORD.size, 0)
        count, reset_at = _RECORD.unpack(raw) if len(raw) == _RECORD.size else (0, 0)
        if reset_at <= now:
            count, reset_at = 0, int(now + window_seconds)
        count += 1
        os.pwrite(fd, _RECORD.pack(count, reset_at), 0)
        return Window(count=count, reset_at=reset_at)
    finally:
        os.close(fd)  # releases the lock


def _file_peek(folder: Path, key: str, window_seconds: int, now: float) -> Window:
    try:
        fd = os.open(_counter_path(folder, key), os.O_RDONLY)
    except FileNotFoundError:
        return Window(count=0, reset_at=int(now + window_seconds))
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        raw = os.pread(fd, _RECORD.size, 0)
    finally:
        os.close(fd)
    count, reset_at = _RECORD.unpack(raw) if len(raw) == _RECORD.size else (0, 0)
    if reset_at <= now:
        return Window(count=0, reset_at=int(now + window_seconds))
    return Window(count=count, reset_at=reset_at)


def hit_buckets(keys_and_limits: list[tuple[str, int]], window_seconds: int) -> list[Window]:
    """Count one request against each key in order, stopping after the first over its limit;
    the windows of the keys counted (the last one is over its limit when the list is short
    of the keys, or when its count exceeds its limit)."""
    now = time.time()
    client = _redis()
    if client is not None:
        flat = _script()(keys=[k for k, _ in keys_and_limits],
                         args=[window_seconds, *(limit for _, limit in keys_and_limits)])
        return [Window(count=int(flat[i]), reset_at=int(now + max(int(flat[i + 1]), 0)))
                for i in range(0, len(flat), 2)]
    windows = []
    for key, limit in keys_and_limits:
        window = hit(key, window_seconds, now=now)
        windows.append(window)
        if window.count > limit:
            break
    return windows


def hit(key: str, window_seconds: int, *, now: float | None = None) -> Window:
    """Count one request against `key` and return the window it falls in."""
    now = time.time() if now is None else now
    client = _redis()
    if client is not None:
        count, ttl = _script()(keys=[key], args=[window_seconds, 2**62])
        return Window(count=int(count), reset_at=int(now + max(int(ttl), 0)))
    folder = _counter_dir()
    if folder is not None:
        return _file_hit(folder, key, window_seconds, now)
    # Any other cache backend: get + set, not atomic under contention.
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
    folder = _counter_dir()
    if folder is not None:
        return _file_peek(folder, key, window_seconds, now)
    state = cache.get(key)
    if state is None or state["reset_at"] <= now:
        return Window(count=0, reset_at=int(now + window_seconds))
    return Window(count=state["count"], reset_at=state["reset_at"])
