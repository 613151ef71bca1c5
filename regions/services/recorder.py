"""Request metrics written off the request path: one writer thread per process, group commit.

A predict used to INSERT and commit its RequestMetric before answering. Now `record`
queues the row and wakes this process's writer thread, which inserts everything queued
so far in one statement. The first row after a quiet spell is written at once; under
steady traffic the writer writes at most every WRITE_INTERVAL seconds, and the rows that
arrive meanwhile share that write (a request then costs a list append, and the writer's
own CPU time, which the request threads share the GIL with, is paid once per batch).

Who sees what: any query through `RequestMetric.objects` in this process flushes the
queue first (the model's manager calls `flush`), so this process reads its own rows at
once; other processes (the worker validating a deployment, another server's /metrics)
see them when the writer has committed them: a few milliseconds after the answer when
traffic is sparse, at most ~WRITE_INTERVAL later under steady traffic. A
caller inside a transaction (a test, an eager task) gets its row written at once in that
transaction, as before, so the row commits or rolls back with it.
"""
from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
import time
from typing import Any

from django.db import DatabaseError, connections, transaction
from django.utils import timezone

__all__ = ["record", "flush", "pending"]

log = logging.getLogger(__name__)

# Past this many queued rows (the database is slower than the traffic), requests write
# them themselves: memory stays bounded and the slowness shows where it is.
MAX_PENDING = 5000
WRITE_INTERVAL = 0.1  # seconds between two writes under steady traffic

_pending: list[dict[str, Any]] = []
_lock = threading.Lock()  # guards _pending and _writer
_write_lock = threading.Lock()  # one write at a time, so a flush returns after rows in flight are committed
_wake = threading.Event()
_writer: threading.Thread | None = None


def record(**fields: Any) -> None:
    """Queue one RequestMetric row (its fields); written by the writer thread, or now inside a transaction."""
    fields.setdefault("at", timezone.now())
    # On an event loop (the lean path's inline answers) no transaction can be open, since Django
    # refuses the database there; asking would make a connection object per request (per task).
    if not _on_event_loop() and transaction.get_connection().in_atomic_block:
        _insert([fields])
        return
    with _lock:
        _pending.append(fields)
        backlog = len(_pending) >= MAX_PENDING
        _ensure_writer()
    _wake.set()
    if backlog:
        flush()


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def pending() -> int:
    return len(_pending)


def flush() -> None:
    """Write every queued row now (and wait for a write in progress): what readers call first."""
    if not _pending and not _write_lock.locked():
        return
    with _write_lock:
        with _lock:
            rows = _pending[:]
            _pending.clear()
        if rows:
            _insert(rows)


_COLUMNS = ("region", "model_name", "version", "latency_ms", "compute_seconds", "batch_size", "status_code", "at")


def _insert(rows: list[dict[str, Any]]) -> None:
    """One INSERT of every row (executemany), values as the model's fields would prepare them. Not
    `bulk_create`: a model instance and nine prepared fields per row cost ~20 us of the writer's GIL
    time per request, and its flush every WRITE_INTERVAL held request threads up by milliseconds."""
    from ..models import RequestMetric

    connection = transaction.get_connection()
    fields = [RequestMetric._meta.get_field(name) for name in (*_COLUMNS, "ok")]
    table, quote = RequestMetric._meta.db_table, connection.ops.quote_name
    sql = (f"INSERT INTO {quote(table)} ({', '.join(quote(f.column) for f in fields)}) "
           f"VALUES ({', '.join(['%s'] * len(fields))})")
    at = fields[len(_COLUMNS) - 1]
    values = [(r["region"], r["model_name"], r["version"], float(r["latency_ms"]), float(r["compute_seconds"]),
               int(r["batch_size"]), int(r["status_code"]), at.get_db_prep_save(r["at"], connection),
               r["status_code"] < 500) for r in rows]
    # One commit for the lot (in autocommit each row would be its own transaction), as bulk_create did.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        for start in range(0, len(values), 500):
            cursor.executemany(sql, values[start:start + 500])


def _ensure_writer() -> None:
    global _writer
    if _writer is None or not _writer.is_alive():
        _writer = threading.Thread(target=_write_forever, name="regions-metrics-writer", daemon=True)
        _writer.start()


def _write_forever() -> None:
    last = 0.0
    while True:
        _wake.wait()
        time.sleep(max(0.0, last + WRITE_INTERVAL - time.monotonic()))  # rows arriving meanwhile join this write
        _wake.clear()
        last = time.monotonic()
        try:
            flush()
        except DatabaseError:  # the rows are lost, loudly; the next rows try again
            log.exception("could not write request metrics")
        finally:
            # This thread keeps its connection (a new SQLite one, pragmas and functions, cost more
            # than the insert) unless it broke; CONN_MAX_AGE is for request threads.
            for connection in connections.all(initialized_only=True):
                if connection.errors_occurred and not connection.is_usable():
                    connection.close()


def _after_fork() -> None:
    """A forked child (a prefork worker) starts with no writer thread and its parent's queue."""
    global _writer, _lock, _write_lock, _wake
    _writer, _lock, _write_lock, _wake = None, threading.Lock(), threading.Lock(), threading.Event()
    _pending.clear()


def _flush_at_exit() -> None:
    try:
        flush()  # a server stopping writes what it still holds
    except DatabaseError:
        log.exception("could not write request metrics at exit")


os.register_at_fork(after_in_child=_after_fork)
atexit.register(_flush_at_exit)
