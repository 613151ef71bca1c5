"""The embedded default's file counters: exact counts across threads, a bounded number of open files
however many callers count, and a counter removed by cache.clear() starting anew."""
from __future__ import annotations

import os
import threading
import time

import pytest

from fedplane.api import ratelimit

WINDOW = 3600


def _hits(folder, key: str, n: int) -> None:
    for _ in range(n):
        ratelimit._file_hit(folder, key, WINDOW, time.time())


def _count(folder, key: str) -> int:
    return ratelimit._file_peek(folder, key, WINDOW, time.time()).count


def _open_counter_files(folder) -> int:
    """Descriptors of this process open on counter files in `folder` (other tests' stay open too)."""
    names = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            names.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor)
    return sum(name.startswith(str(folder)) and "ratelimit-" in name for name in names)


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setattr(ratelimit, "_maps", type(ratelimit._maps)())  # this test's files only
    return tmp_path


def test_threads_sharing_a_counter_lose_no_count(folder):
    threads = [threading.Thread(target=_hits, args=(folder, "ratelimit:default:key:a", 300)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _count(folder, "ratelimit:default:key:a") == 8 * 300


def test_many_callers_keep_a_bounded_number_of_files_open(folder, monkeypatch):
    monkeypatch.setattr(ratelimit, "MAX_OPEN_COUNTERS", 4)
    keys = [f"ratelimit:default:key:k{i}" for i in range(20)]

    def spend(offset: int) -> None:
        for round_ in range(3):
            for key in keys[offset:] + keys[:offset]:
                _hits(folder, key, 1)
    threads = [threading.Thread(target=spend, args=(i * 5,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ratelimit._maps) <= 4
    assert _open_counter_files(folder) <= 2 * 4  # evicted counters were closed (mmap keeps a second descriptor)
    assert [_count(folder, key) for key in keys] == [4 * 3] * len(keys)  # evicted and reopened: nothing lost


def test_a_removed_counter_file_starts_anew(folder):
    _hits(folder, "ratelimit:default:key:b", 5)
    for path in folder.glob("ratelimit-*.djcache"):
        path.unlink()  # what cache.clear() does
    _hits(folder, "ratelimit:default:key:b", 1)
    assert _count(folder, "ratelimit:default:key:b") == 1
