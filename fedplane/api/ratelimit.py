"""Per-caller request counters shared by every server process.

A window opens at a caller's first request and lasts `RATE_LIMIT_WINDOW_SECONDS`,
so no hour boundary splits a burst. Redis (production) counts every bucket of a
request in one round trip: a Lua script that increments the buckets in order,
atomically, and stops at the first one over its limit. The embedded default keeps one
small file per counter next to Django's file cache, read and rewritten under an
exclusive `flock`: atomic across the processes of one machine, and cheap (no pickle,
no temp file and rename); `cache.clear()` removes these files with the cache's own. A process
keeps its recently used counter files open and mapped (`_CounterMap`, at most MAX_OPEN_COUNTERS).

When Redis cannot be reached the limiter fails open: requests go through uncounted, with
one warning per outage in the log, for at most `RATE_LIMIT_FAIL_OPEN_SECONDS` of it; past
that bound, throttled requests are refused with 503 until Redis answers again. While it
is down, one request a second tries it; the others do not wait on a dead connection.
"""
from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import logging
import mmap
import struct
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import redis
import redis.asyncio
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry
from django.core.cache import cache

from .outages import REDIS_ERRORS

__all__ = ["Window", "counts_locally", "hit", "hit_buckets", "hit_buckets_awaiting", "peek"]

log = logging.getLogger("fedplane.api")

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
    # Short timeouts: a hung Redis must not hold every request for redis-py's default 5 s. One retry
    # on a new connection: after Redis restarts, each pooled connection fails once, and must not
    # count as an outage of its own.
    return (redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2,
                                 retry=Retry(NoBackoff(), 1)) if settings.REDIS_URL else None)


class _Outage:
    """This process's view of Redis: since when it has been unreachable, when to try it again."""

    RETRY_SECONDS = 1.0

    def __init__(self) -> None:
        self.since: float | None = None
        self.retry_at = 0.0
        self._lock = threading.Lock()

    def failed(self, now: float, exc: Exception) -> None:
        with self._lock:
            if self.since is None:
                self.since = now
                log.warning("rate limiter cannot reach Redis (%s): requests go through uncounted for up to %s s",
                            exc, settings.RATE_LIMIT_FAIL_OPEN_SECONDS)
            self.retry_at = now + self.RETRY_SECONDS

    def recovered(self, now: float) -> None:
        if self.since is not None:
            with self._lock:
                if self.since is not None:
                    log.warning("rate limiter reaches Redis again after %.1f s; counting again", now - self.since)
                    self.since = None

    def call(self, command, now: float, *, bounded: bool = True):
        """`command()`'s result, or None when Redis is unreachable and the limiter fails open;
        past the bound (when `bounded`), a redis ConnectionError, which the API answers with 503."""
        if self.since is None or now >= self.retry_at:
            try:
                result = command()
            except REDIS_ERRORS as exc:
                self.failed(now, exc)
            else:
                self.recovered(now)
                return result
        down_for = now - (self.since or now)
        if bounded and down_for >= settings.RATE_LIMIT_FAIL_OPEN_SECONDS:
            raise redis.exceptions.ConnectionError(f"rate limiter: Redis unreachable for {down_for:.0f} s")
        return None


_outage = _Outage()


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


class _CounterMap:
    """An open counter file, its 16 bytes mapped into memory, shared by the threads of this process.
    A `flock` belongs to an open file, so threads sharing one exclude each other with `lock` and
    other processes with the `flock`; the count is read and written in the mapping, with no other
    system call while both are held."""

    __slots__ = ("fd", "view", "lock")

    def __init__(self, path: str) -> None:
        self.lock = threading.Lock()
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
            if os.fstat(self.fd).st_size < _RECORD.size:
                os.ftruncate(self.fd, _RECORD.size)  # a new counter: zeroes, a window already closed
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            self.view = mmap.mmap(self.fd, _RECORD.size)
        except BaseException:
            os.close(self.fd)
            raise

    def removed(self) -> bool:
        return os.fstat(self.fd).st_nlink == 0  # cache.clear() removed it: the other processes count anew

    def __del__(self) -> None:  # evicted, or the file was removed, once no thread still uses it
        view = getattr(self, "view", None)
        if view is not None:
            view.close()
        os.close(self.fd)


# Open counter files per process, least recently used evicted: one file per caller and bucket, so
# many callers must not exhaust the process's file descriptors (a soft limit of 1,024 is common;
# each counter holds two: its file and the mapping's duplicate). Before, each request thread kept
# up to 256 of its own.
MAX_OPEN_COUNTERS = 128
_maps: OrderedDict[str, _CounterMap] = OrderedDict()
_maps_lock = threading.Lock()


def _counter_map(path: str) -> _CounterMap:
    with _maps_lock:
        counter = _maps.get(path)
        if counter is not None:
            _maps.move_to_end(path)
    if counter is not None and not counter.removed():
        return counter
    fresh = _CounterMap(path)  # opened outside the lock: other counters go on meanwhile
    with _maps_lock:
        _maps[path] = fresh
        _maps.move_to_end(path)
        while len(_maps) > MAX_OPEN_COUNTERS:
            _maps.popitem(last=False)  # closed when the last thread using it lets go
    return fresh


def _forget_maps() -> None:
    """In a forked child: the parent's open files share their `flock` with the parent; open anew."""
    global _maps, _maps_lock
    _maps, _maps_lock = OrderedDict(), threading.Lock()


os.register_at_fork(after_in_child=_forget_maps)


def _file_hit(folder: Path, key: str, window_seconds: int, now: float) -> Window:
    counter = _counter_map(_counter_path(folder, key))
    fd, view = counter.fd, counter.view
    with counter.lock:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            count, reset_at = _RECORD.unpack_from(view, 0)
            if reset_at <= now:
                count, reset_at = 0, int(now + window_seconds)
            count += 1
            _RECORD.pack_into(view, 0, count, reset_at)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    return Window(count=count, reset_at=reset_at)


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


_loop_scripts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # event loop -> its Redis script


def _loop_script():
    """The counting script on a Redis client of the running event loop (an asyncio client belongs
    to the loop that made it)."""
    loop = asyncio.get_running_loop()
    script = _loop_scripts.get(loop)
    if script is None:
        client = redis.asyncio.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
        script = _loop_scripts[loop] = client.register_script(_HIT_SCRIPT)
    return script


async def hit_buckets_awaiting(keys_and_limits: list[tuple[str, int]], window_seconds: int) -> list[Window] | None:
    """`hit_buckets` in Redis, awaited on the event loop (no thread, and no loop held by a socket
    wait). None when Redis is not known healthy here, or does not answer now: the caller then
    counts the usual way, on a thread, where the outage rules (fail open, then 503) apply."""
    if _redis() is None or _outage.since is not None:
        return None
    now = time.time()
    try:
        flat = await _loop_script()(**_script_call(keys_and_limits, window_seconds))
    except (*REDIS_ERRORS, OSError, redis.exceptions.RedisError):
        return None
    return _windows(flat, now)


def _script_call(keys_and_limits: list[tuple[str, int]], window_seconds: int) -> dict:
    """The counting script's KEYS and ARGV for these buckets."""
    return {"keys": [k for k, _ in keys_and_limits], "args": [window_seconds, *(limit for _, limit in keys_and_limits)]}


def _windows(flat: list, now: float) -> list[Window]:
    """The script's (count, ttl) pairs as windows."""
    return [Window(count=int(flat[i]), reset_at=int(now + max(int(flat[i + 1]), 0))) for i in range(0, len(flat), 2)]


def counts_locally() -> bool:
    """Counting is a few memory and file operations here: the file counters, not a round trip to
    Redis (or another cache's server) that could wait."""
    return _redis() is None and _counter_dir() is not None


def hit_buckets(keys_and_limits: list[tuple[str, int]], window_seconds: int) -> list[Window]:
    """Count one request against each key in order, stopping after the first over its limit;
    the windows of the keys counted (the last one is over its limit when the list is short
    of the keys, or when its count exceeds its limit)."""
    now = time.time()
    client = _redis()
    if client is not None:
        flat = _outage.call(lambda: _script()(**_script_call(keys_and_limits, window_seconds)), now)
        if flat is None:  # failing open: nothing counted, nothing refused
            return [Window(count=0, reset_at=int(now + window_seconds)) for _ in keys_and_limits]
        return _windows(flat, now)
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
        counted = _outage.call(lambda: _script()(keys=[key], args=[window_seconds, 2**62]), now)
        if counted is None:
            return Window(count=0, reset_at=int(now + window_seconds))
        count, ttl = counted
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
        # Only for headers, from middleware outside DRF: never refuses, never raises.
        read = _outage.call(lambda: client.pipeline(transaction=False).get(key).ttl(key).execute(), now,
                            bounded=False)
        count, ttl = read or (None, -1)
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
