"""A region's artifact store behind fsspec: streamed writes with sha256, verified copies.

A store is an fsspec URL (`file:///srv/models`, `s3://bucket/prefix`, ...). Keys are
relative paths inside it. Writes go to a temporary key first and are moved into place only
once complete (on S3, a multipart upload is completed instead), so a reader never sees half
an artifact. Every path is checked against REGIONS_STORE_ALLOWED_ROOTS (`roots.py`), and
every failure of the filesystem is raised as a StoreUnavailable that says what went wrong
(`errors.py`).
"""
from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import fsspec
from django.conf import settings
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from ..errors import StoreNotAllowed
from . import s3
from .copying import CopyResult, kernel_copy, streamed_copy
from .errors import StoreUnavailable, store_failure
from .roots import inside, normalized, safe_key

__all__ = ["StoredObject", "Staged", "Store", "store_for", "register_plugins"]


@dataclass(frozen=True)
class StoredObject:
    key: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class Staged:
    """A copy that landed where no reader looks yet: `commit` puts it at its key, `discard` drops it."""

    result: CopyResult
    commit: Callable[[], None]
    discard: Callable[[], None]


def register_plugins() -> None:
    """Register custom filesystems named in REGIONS_FSSPEC_PLUGINS (proto -> module:Class)."""
    for proto, target in settings.REGIONS_FSSPEC_PLUGINS.items():
        fsspec.register_implementation(proto, target.replace(":", "."), clobber=True)


class Store:
    """One region's store: a filesystem and a root path inside it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.fs, self.root = url_to_fs(url, **s3.storage_options(url))
        self.chunk = settings.REGIONS_REPLICATION_CHUNK_BYTES

    def path(self, key: str) -> str:
        """Where `key` is, once checked to be inside an allowed root (every read and write asks here)."""
        full = f"{self.root.rstrip('/')}/{safe_key(key)}"
        try:
            allowed = inside(type(self.fs), normalized(self.fs, full))
        except ValueError:
            allowed = False
        if not allowed:
            raise StoreNotAllowed(f"Store {self.url[:200]} (key {key[:200]!r}) is outside REGIONS_STORE_ALLOWED_ROOTS;"
                                  " set the region's store_url to a store inside them.",
                                  details={"storeUrl": self.url, "key": key})
        return full

    @contextmanager
    def failures(self, op: str, key: str = "") -> Iterator[None]:
        """Raise what the filesystem raises inside as the StoreUnavailable it means."""
        try:
            yield
        except (StoreUnavailable, StoreNotAllowed):
            raise
        except Exception as exc:  # noqa: BLE001 - OSErrors and botocore's own errors, all reported as what they mean
            if not isinstance(exc, OSError) and not type(exc).__module__.startswith(("botocore", "aiobotocore")):
                raise
            raise store_failure(exc, store_url=self.url, op=op, key=key) from exc

    @property
    def local(self) -> bool:
        # Exactly the local filesystem (a subclass may change bytes on their way, as tests do).
        return type(self.fs) is LocalFileSystem

    def exists(self, key: str) -> bool:
        with self.failures("looked for an object", key):
            return self.fs.exists(self.path(key))

    def size(self, key: str) -> int:
        with self.failures("read an object's size", key):
            return int(self.fs.size(self.path(key)))

    def read_bytes(self, key: str) -> bytes:
        with self.failures("read an object", key):
            return self.fs.cat_file(self.path(key))

    def iter_views(self, key: str) -> Iterator[memoryview]:
        """Chunks as views of one reused buffer: each is valid until the next is asked for.

        Reading into the same buffer avoids allocating (and page-faulting) a fresh
        chunk-sized bytes object per read, which costs more than the copy itself.
        """
        buffer = bytearray(self.chunk)
        view = memoryview(buffer)
        with self.failures("read an object", key), self.fs.open(self.path(key), "rb", block_size=self.chunk) as fh:
            while n := fh.readinto(buffer):
                yield view[:n]

    def sha256(self, key: str) -> str:
        digest = hashlib.sha256()
        for chunk in self.iter_views(key):
            digest.update(chunk)
        return digest.hexdigest()

    def delete(self, key: str) -> None:
        with self.failures("deleted an object", key):
            if self.fs.exists(self.path(key)):
                self.fs.rm_file(self.path(key))

    def write_stream(self, key: str, chunks: Iterable[bytes]) -> StoredObject:
        """Write `chunks` under `key` atomically; digest and size of what was written."""
        if s3.is_s3(self.fs):
            return self._upload_stream(key, chunks)
        temp = self._temp_key(key)
        try:
            with self.failures("wrote an object", key):
                self._makedirs(temp)
                with self.fs.open(self.path(temp), "wb", block_size=self.chunk) as out:
                    result = streamed_copy(chunks, out, read_back_path=None)
                self.commit(temp, key)
        except BaseException:
            self._discard(temp)
            raise
        return StoredObject(key=key, sha256=result.sha256, size_bytes=result.bytes_transferred)

    def _upload_stream(self, key: str, chunks: Iterable[bytes]) -> StoredObject:
        digest, size, upload = hashlib.sha256(), 0, None
        try:
            with self.failures("uploaded an object", key):
                upload = s3.S3Upload(self.fs, self.path(key), part_bytes=s3.part_size(None))
                for number, part in enumerate(s3.parts_of(chunks, upload.part_bytes), start=1):
                    digest.update(part)
                    size += len(part)
                    upload.send(number, part)
                upload.finish()
                if size:
                    upload.complete()
                else:
                    upload.abort()
        except BaseException:
            if upload is not None:
                self._quietly(upload.abort)
            raise
        return StoredObject(key=key, sha256=digest.hexdigest(), size_bytes=size)

    def stage_copy(self, source: Store, key: str, *, verify: bool, resume: dict | None = None,
                   checkpoint: Callable[[dict], None] | None = None) -> Staged:
        """Copy `key` from `source` to where no reader looks yet; `result.sha256` is what to compare.

        Local to local, the kernel copies and what landed is read back (`verify`) or the source's
        parts are hashed; into another local store, the stream is hashed and what landed read
        back; into S3, the store checks every part's checksum and the upload resumes from the
        parts recorded in `resume` (kept up to date through `checkpoint`); elsewhere, what was
        written is read back once written.
        """
        if s3.is_s3(self.fs):
            return self._stage_upload(source, key, resume=resume, checkpoint=checkpoint)
        temp = self._temp_key(key)
        try:
            with self.failures(f"copied from {source.url[:200]}", key):
                self._makedirs(temp)
                if self.local and source.local:
                    result = kernel_copy(source.path(key), self.path(temp), part_bytes=self.chunk,
                                         hash_source=not verify)
                else:
                    result = self._stream_into(temp, source.iter_views(key), verify)
        except BaseException:
            self._discard(temp)
            raise
        return Staged(result=result, commit=lambda: self.commit(temp, key), discard=lambda: self._discard(temp))

    def _stream_into(self, temp: str, chunks: Iterator[memoryview], verify: bool) -> CopyResult:
        path = self.path(temp)
        read_back = path if verify and isinstance(self.fs, LocalFileSystem) else None
        with self.fs.open(path, "wb", block_size=self.chunk) as out:
            result = streamed_copy(chunks, out, read_back_path=read_back)
        if verify and read_back is None:  # a store we cannot read while it is written: read back after
            result = CopyResult(bytes_transferred=result.bytes_transferred, sha256=self.sha256(temp),
                                checked="read back", source_sha256=result.source_sha256)
        return result

    def _stage_upload(self, source: Store, key: str, *, resume: dict | None,
                      checkpoint: Callable[[dict], None] | None) -> Staged:
        """Into S3: the source streams in parts, hashed once; the store verifies each part's checksum."""
        size = source.size(key)
        digest, upload = hashlib.sha256(), None
        try:
            with self.failures(f"uploaded from {source.url[:200]}", key):
                upload = s3.S3Upload(self.fs, self.path(key), part_bytes=s3.part_size(size), state=resume,
                                     checkpoint=checkpoint)
                with source.failures("read an object", key), \
                        source.fs.open(source.path(key), "rb", block_size=upload.part_bytes) as fh:
                    number = 0
                    while part := fh.read(upload.part_bytes):
                        number += 1
                        digest.update(part)
                        upload.send(number, part)
                upload.finish()
        except BaseException:
            if upload is not None:
                upload.close()  # parts under way land and are recorded: the next attempt keeps them
            raise
        result = CopyResult(bytes_transferred=upload.sent_bytes, sha256=digest.hexdigest(), checked="store checksum",
                            source_sha256=digest.hexdigest(), resumed_bytes=upload.resumed_bytes,
                            parts=len(upload.parts))

        def commit() -> None:
            with self.failures("completed an upload", key):
                upload.complete()

        def discard() -> None:
            self._quietly(upload.abort)
        return Staged(result=result, commit=commit, discard=discard)

    def abandon(self, resume: dict | None) -> None:
        """Drop what an earlier attempt left recorded in `resume` (an open multipart upload)."""
        if resume and s3.is_s3(self.fs):
            self._quietly(lambda: s3.abort_recorded(self.fs, resume))

    def commit(self, temp: str, key: str) -> None:
        with self.failures("moved an object into place", key):
            self.fs.mv(self.path(temp), self.path(key))

    def discard(self, temp: str) -> None:
        self._discard(temp)

    def _makedirs(self, key: str) -> None:
        # Object stores have no folders (and s3fs's makedirs would create a missing bucket).
        if not s3.is_s3(self.fs):
            self.fs.makedirs(self.path(key).rsplit("/", 1)[0], exist_ok=True)

    def _discard(self, key: str) -> None:
        self._quietly(lambda: self.delete(key))

    @staticmethod
    def _quietly(cleanup: Callable[[], None]) -> None:
        try:
            cleanup()
        except (OSError, StoreUnavailable, StoreNotAllowed):  # nothing to clean up, or the store is gone
            pass

    @staticmethod
    def _temp_key(key: str) -> str:
        return f"{key}.part-{secrets.token_hex(4)}"


def store_for(url: str) -> Store:
    """The store at `url` with the current S3 settings (cached: fsspec filesystems are reusable and
    thread-safe to read)."""
    return _store_for(url, repr(sorted(s3.storage_options(url).items())), settings.REGIONS_REPLICATION_CHUNK_BYTES)


@lru_cache(maxsize=64)
def _store_for(url: str, options: str, chunk: int) -> Store:
    return Store(url)

