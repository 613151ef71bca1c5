"""Locks that serialise StartRun + AcquireTask among every worker sharing a SuperLink.

AcquireTask hands out the oldest pending ServerApp task, so two drivers interleaving
the two calls could swap runs. One host: the runtime's file lock. Several worker hosts
(production, REDIS_URL set): a Redis lock, which every host sees.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis
from django.conf import settings

from ..runtime.control import start_run_lock

__all__ = ["superlink_lock", "superlink_lock_key"]

LOCK_SECONDS = 120  # released earlier; expires if its holder dies between the two calls


def superlink_lock_key(address: str) -> str:
    return f"fedplane:superlink-start:{address}"


@contextmanager
def superlink_lock(address: str) -> Iterator[None]:
    if not settings.REDIS_URL:
        with start_run_lock(address):
            yield
        return
    client = redis.Redis.from_url(settings.REDIS_URL)
    lock = client.lock(superlink_lock_key(address), timeout=LOCK_SECONDS,
                       blocking_timeout=LOCK_SECONDS)
    if not lock.acquire():
        raise TimeoutError(f"could not lock SuperLink {address} within {LOCK_SECONDS}s")
    try:
        yield
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:  # expired meanwhile: someone else may hold it now
            pass
        client.close()
