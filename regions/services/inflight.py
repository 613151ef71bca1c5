"""Requests being served by this process, per region (what a drain waits for)."""
from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["serving", "count"]

_counts: Counter[str] = Counter()
_lock = threading.Lock()


@contextmanager
def serving(region: str) -> Iterator[None]:
    with _lock:
        _counts[region] += 1
    try:
        yield
    finally:
        with _lock:
            _counts[region] -= 1


def count(region: str | None = None) -> int:
    with _lock:
        return _counts[region] if region else sum(_counts.values())
