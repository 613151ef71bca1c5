"""Embedded (SQLite) deployments: keep one idle connection per database file open per process.

Django opens and closes a connection for every request (CONN_MAX_AGE=0 on SQLite; under
ASGI each request runs in a thread of its own). When the last connection to a WAL
database closes, SQLite checkpoints the WAL into the database (fsync) and deletes it, and
the next writer creates it again: 2-6 ms of every request that wrote a row (an audit
entry, a predict metric). An idle connection held open by the process means no request's
close is the last one, so the WAL stays and is checkpointed by SQLite's own
autocheckpoint (every 1000 pages). It holds no lock: it never starts a transaction.
"""
from __future__ import annotations

import sqlite3
import threading

__all__ = ["keep_wal_open"]

_anchors: dict[str, sqlite3.Connection] = {}
_lock = threading.Lock()


def keep_wal_open(sender, connection, **kwargs) -> None:
    """`connection_created` receiver: anchor the database file of a new SQLite connection."""
    if connection.vendor != "sqlite":
        return
    name = str(connection.settings_dict.get("NAME") or "")
    if not name or name in _anchors or ":memory:" in name or "mode=memory" in name:
        return
    with _lock:
        if name not in _anchors:
            anchor = sqlite3.connect(name, check_same_thread=False, isolation_level=None)
            # sqlite3.connect does not open the file; a first read does (and joins the WAL).
            anchor.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            _anchors[name] = anchor
