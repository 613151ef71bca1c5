"""A local filesystem that flips a byte in the next N files written (`flaky:///path`), that
may write slowly (a pause before each chunk), like a far region's store, and whose reads may
break after some bytes, like a connection reset in the middle of a transfer.

The count and the pause live in files beside the store so a Celery worker process sees
the same budget as the test that set it.
"""
from __future__ import annotations

import errno
import time
from pathlib import Path

from fsspec.implementations.local import LocalFileSystem

__all__ = ["FlakyFileSystem", "corrupt_next_writes", "slow_writes", "break_reads_after"]


def _budget_file(path: str) -> Path:
    return Path(path.split("/models/", 1)[0]) / ".corrupt-budget"


def slow_writes(store_root: str | Path, seconds_per_chunk: float) -> None:
    """Pause before each chunk written to the store (0: no pause)."""
    Path(store_root).mkdir(parents=True, exist_ok=True)
    (Path(store_root) / ".write-delay").write_text(str(seconds_per_chunk))


def break_reads_after(store_root: str | Path, n_bytes: int | None) -> None:
    """Each file opened for reading fails with ECONNRESET once `n_bytes` were read from it (None: never)."""
    marker = Path(store_root) / ".break-reads-after"
    if n_bytes is None:
        marker.unlink(missing_ok=True)
    else:
        marker.write_text(str(n_bytes))


def corrupt_next_writes(store_root: str | Path, n: int) -> None:
    Path(store_root).mkdir(parents=True, exist_ok=True)
    (Path(store_root) / ".corrupt-budget").write_text(str(n))


class FlakyFileSystem(LocalFileSystem):
    protocol = ("flaky",)

    @classmethod
    def _strip_protocol(cls, path):
        path = str(path)
        if path.startswith("flaky://"):
            path = path[len("flaky://"):]
        return super()._strip_protocol(path)

    def _open(self, path, mode="rb", **kwargs):
        handle = super()._open(path, mode, **kwargs)
        if "w" not in mode:
            return self._breaking(handle, path)
        budget = _budget_file(self._strip_protocol(path))
        delay_file = budget.with_name(".write-delay")
        if delay_file.exists() and float(delay_file.read_text() or 0) > 0:
            unpaused = handle.write

            def slow_write(data):
                time.sleep(float(delay_file.read_text() or 0))  # a slow link, not a wait for anything
                return unpaused(data)
            handle.write = slow_write
        left = int(budget.read_text()) if budget.exists() else 0
        if left <= 0:
            return handle
        budget.write_text(str(left - 1))
        original_write = handle.write
        state = {"flipped": False}

        def write(data):
            if not state["flipped"] and data:
                data = bytes([data[0] ^ 0xFF]) + bytes(data[1:])  # flip the first byte of the file
                state["flipped"] = True
            return original_write(data)
        handle.write = write
        return handle

    def _breaking(self, handle, path):
        marker = _budget_file(self._strip_protocol(path)).with_name(".break-reads-after")
        if not marker.exists():
            return handle
        left = {"bytes": int(marker.read_text())}
        read, readinto = handle.read, handle.readinto

        def check(n: int) -> None:
            left["bytes"] -= n
            if left["bytes"] < 0:
                raise ConnectionResetError(errno.ECONNRESET, "connection reset by the test's store")

        def breaking_read(size=-1):
            data = read(size)
            check(len(data))
            return data

        def breaking_readinto(buffer):
            n = readinto(buffer)
            check(n)
            return n
        handle.read, handle.readinto = breaking_read, breaking_readinto
        return handle
