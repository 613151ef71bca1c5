"""The StartRun + AcquireTask lock excludes every other driver: across hosts through
Redis when it is configured (production), on one host through a file lock."""
from __future__ import annotations

import fcntl

import redis
from django.conf import settings

from flcore.runtime.control import start_run_lock_path
from flcore.services.locks import superlink_lock, superlink_lock_key

ADDRESS = "127.0.0.1:1"


def _someone_else_can_lock() -> bool:
    if settings.REDIS_URL:
        client = redis.Redis.from_url(settings.REDIS_URL)
        lock = client.lock(superlink_lock_key(ADDRESS), timeout=5)
        taken = lock.acquire(blocking=False)
        if taken:
            lock.release()
        return taken
    with start_run_lock_path(ADDRESS).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


def test_superlink_lock_is_exclusive_while_held_and_free_after():
    with superlink_lock(ADDRESS):
        assert not _someone_else_can_lock()
    assert _someone_else_can_lock()
