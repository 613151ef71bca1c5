"""Copies into a local store, hashed once, with the read-back of what landed overlapped with the transfer.

A verified copy must push every byte through SHA-256 at least once, so its floor is the larger
of the copy time and the hash time. Done one after the other (copy, then read back and hash)
it costs their sum; here a second thread reads back and hashes part n while part n+1 is being
copied, so on two cores it costs about the larger of the two plus one part.

- Local to local (`kernel_copy`): the kernel copies each part (copy_file_range, else sendfile);
  the bytes never pass through Python, and what landed is the only thing hashed: its digest
  equal to the version's proves the source was right too.
- Anything else into a local store (`streamed_copy`): the source is read in chunks and hashed
  once as it streams; each chunk written is read back and hashed by the second thread.
"""
from __future__ import annotations

import errno
import hashlib
import mmap
import os
import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["CopyResult", "ReadBack", "kernel_copy", "streamed_copy"]

# Read back through a mapping of the page cache, populated at once: about the speed of hashing
# bytes already in memory, where reading into a buffer first costs a copy (a quarter slower here).
_MAP_BYTES = 16 << 20
_SMALL_PART = 1 << 20
_POPULATE = getattr(mmap, "MAP_POPULATE", 0)


@dataclass(frozen=True)
class CopyResult:
    bytes_transferred: int  # bytes sent in this attempt
    sha256: str  # the digest the replication compares with the version's
    checked: str  # how that digest was taken: "read back", "streamed" or "store checksum"
    source_sha256: str = ""  # the stream's own digest, when it was hashed as well
    resumed_bytes: int = 0  # bytes an earlier attempt had sent and this one kept
    parts: int = 0  # parts of a multipart upload (0: not one)


class ReadBack(threading.Thread):
    """Hashes a local file in order while a writer appends to it.

    The writer maps each part it announces (from the page cache, populated at once): it has
    time to spare, as copying is faster than hashing, so this thread, the slower one, only hashes.
    """

    def __init__(self, path: str) -> None:
        super().__init__(name="store-read-back", daemon=True)
        self.path, self.digest, self.error = path, hashlib.sha256(), None
        self._fd = os.open(path, os.O_RDONLY)
        self._mapped = 0
        self._parts: queue.SimpleQueue[tuple[mmap.mmap, int] | None] = queue.SimpleQueue()
        self.start()

    def announce(self, length: int) -> None:
        """The next `length` bytes of the file are written: map them for the hashing thread."""
        start, end = self._mapped, self._mapped + length
        if os.fstat(self._fd).st_size < end:  # touching a mapping past the end of the file would fault
            raise OSError(errno.EIO, f"{self.path} is shorter than what was written to it")
        while start < end:
            base = start - start % mmap.ALLOCATIONGRANULARITY
            stop = min(end, base + _MAP_BYTES)
            self._parts.put((mmap.mmap(self._fd, stop - base, flags=mmap.MAP_SHARED | _POPULATE,
                                       prot=mmap.PROT_READ, offset=base), start - base))
            start = stop
        self._mapped = end

    def result(self) -> str:
        self._end()
        if self.error is not None:
            raise self.error
        return self.digest.hexdigest()

    def abandon(self) -> None:
        self._end()

    def _end(self) -> None:
        self._parts.put(None)
        self.join()
        os.close(self._fd)

    def run(self) -> None:
        while (part := self._parts.get()) is not None:
            mapped, skip = part
            try:
                if self.error is None:
                    with memoryview(mapped) as view:
                        self.digest.update(view[skip:])
            except (OSError, ValueError) as exc:  # reported by result()
                self.error = exc
            finally:
                mapped.close()


def _copy_range(src: int, dst: int, count: int, offset: int, kernel: dict) -> int:
    """Copy up to `count` bytes at `offset` from `src` to the same offset of `dst`; bytes copied."""
    if kernel.get("copy_file_range", True):
        try:
            return os.copy_file_range(src, dst, count, offset, offset)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL) or offset:
                raise
            kernel["copy_file_range"] = False  # across filesystems on an old kernel: sendfile instead
    os.lseek(dst, offset, os.SEEK_SET)
    return os.sendfile(dst, src, offset, count)


def _part_size(offset: int, remaining: int, part_bytes: int) -> int:
    """Parts grow from 1 MiB to `part_bytes` and shrink again towards the end: the hashing thread
    starts sooner, and has less left to hash once the last part is copied."""
    return max(min(_SMALL_PART, part_bytes), min(part_bytes, offset, remaining // 2))


def kernel_copy(source_path: str, target_path: str, *, part_bytes: int, hash_source: bool = False) -> CopyResult:
    """Copy a local file part by part in the kernel while another thread hashes the parts that landed
    (or, with `hash_source`, the same parts of the source: a digest of the stream, not of what landed)."""
    kernel: dict = {}
    with open(source_path, "rb") as src, open(target_path, "wb") as dst:
        reader = ReadBack(source_path if hash_source else target_path)
        size, offset = os.fstat(src.fileno()).st_size, 0
        try:
            while True:
                part = _part_size(offset, size - offset, part_bytes)
                copied = _copy_range(src.fileno(), dst.fileno(), part, offset, kernel)
                if not copied:
                    break
                offset += copied
                reader.announce(copied)
        except BaseException:
            reader.abandon()
            raise
        digest = reader.result()
    if hash_source:
        return CopyResult(bytes_transferred=offset, sha256=digest, checked="streamed", source_sha256=digest)
    return CopyResult(bytes_transferred=offset, sha256=digest, checked="read back")


def streamed_copy(chunks: Iterable[memoryview | bytes], out, *, read_back_path: str | None) -> CopyResult:
    """Write `chunks` to the open file `out`, hashing the stream; with `read_back_path` (where `out`
    lands on a local disk), another thread reads each chunk back from there and hashes it."""
    stream = hashlib.sha256()
    reader = ReadBack(read_back_path) if read_back_path else None
    written = 0
    try:
        for chunk in chunks:
            stream.update(chunk)
            out.write(chunk)
            written += len(chunk)
            if reader is not None:
                out.flush()  # visible to the reading thread before it is announced
                reader.announce(len(chunk))
        out.flush()
    except BaseException:
        if reader is not None:
            reader.abandon()
        raise
    if reader is None:
        return CopyResult(bytes_transferred=written, sha256=stream.hexdigest(), checked="streamed",
                          source_sha256=stream.hexdigest())
    return CopyResult(bytes_transferred=written, sha256=reader.result(), checked="read back",
                      source_sha256=stream.hexdigest())
