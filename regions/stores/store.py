"""Regional artifact stores behind fsspec: streamed writes with sha256, verified copies.

A store is an fsspec URL (`file:///srv/models`, `s3://bucket/prefix`, ...). Keys are
relative paths inside it. Writes go to a temporary key first and are moved into
place only once complete, so a reader never sees half an artifact.

Stores are confined to REGIONS_STORE_ALLOWED_ROOTS: a store URL is accepted only inside one
of them (`store_url_error`), and every path a store reads or writes is checked again
(`Store.path`), after resolving symlinks on a local disk, so neither a region registered
before the roots changed nor a link inside a store reaches anything outside.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
import posixpath
from functools import lru_cache
from pathlib import PurePosixPath

import fsspec
from django.conf import settings
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from .errors import StoreNotAllowed

__all__ = ["StoredObject", "Store", "store_for", "default_store_url", "register_plugins", "CopyResult",
           "store_url_error", "InvalidKey"]


@dataclass(frozen=True)
class StoredObject:
    key: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class CopyResult:
    bytes_transferred: int
    source_sha256: str  # digest of the bytes streamed ("" when verified by reading back instead)
    target_sha256: str  # digest of the bytes read back from the target ("" when not verified)


def default_store_url(region_name: str) -> str:
    return (settings.REGIONS_STORE_ROOT / region_name).resolve().as_uri()


def register_plugins() -> None:
    """Register custom filesystems named in REGIONS_FSSPEC_PLUGINS (proto -> module:Class)."""
    for proto, target in settings.REGIONS_FSSPEC_PLUGINS.items():
        fsspec.register_implementation(proto, target.replace(":", "."), clobber=True)


class InvalidKey(StoreNotAllowed):
    code, status, default_message = "VALIDATION_ERROR", 422, "The store key is not a path inside the store."


def _safe_key(key: str) -> str:
    rel = PurePosixPath(key)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts or "\x00" in key:
        raise InvalidKey(f"A store key must be a relative path inside the store: {key[:200]!r}.",
                         details={"key": key[:200]})
    return str(rel)


def _location(url: str) -> tuple[type, str]:
    """The filesystem class and the absolute, normalized path `url` designates (symlinks resolved
    on a local disk); ValueError when fsspec cannot open it."""
    if not url.strip():
        raise ValueError("an empty store URL would be the server's working directory")
    try:
        fs, path = url_to_fs(url)
    except (ImportError, ValueError, TypeError) as exc:
        raise ValueError(f"not a store URL fsspec can open ({exc})") from None
    return type(fs), _normalized(fs, path)


def _normalized(fs, path: str) -> str:
    if isinstance(fs, LocalFileSystem):
        return os.path.realpath(path)
    if ".." in PurePosixPath(path).parts:
        raise ValueError("'..' in a store path")
    return posixpath.normpath(path).rstrip("/") or "/"


@lru_cache(maxsize=32)
def _root(url: str) -> tuple[type, str]:
    return _location(url)


def _inside(kind: type, path: str) -> bool:
    for url in settings.REGIONS_STORE_ALLOWED_ROOTS:
        try:
            root_kind, root = _root(url)
        except ValueError:  # a root fsspec cannot open (yet: a plugin registers its protocol later) holds nothing
            continue
        if kind is root_kind and (path == root or path.startswith(root.rstrip("/") + "/")):
            return True
    return False


def store_url_error(url: str) -> str | None:
    """Why `url` cannot be a region's store (outside REGIONS_STORE_ALLOWED_ROOTS, an unknown scheme,
    empty), or None."""
    try:
        kind, path = _location(url)
    except ValueError as exc:
        return str(exc)
    if not _inside(kind, path):
        return (f"{url[:200]} is outside the allowed store roots "
                f"({', '.join(settings.REGIONS_STORE_ALLOWED_ROOTS) or 'none set'}; REGIONS_STORE_ALLOWED_ROOTS)")
    return None


class Store:
    """One region's store: a filesystem and a root path inside it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.fs, self.root = url_to_fs(url)
        self.chunk = settings.REGIONS_REPLICATION_CHUNK_BYTES

    def path(self, key: str) -> str:
        """Where `key` is, once checked to be inside an allowed root (every read and write asks here)."""
        full = f"{self.root.rstrip('/')}/{_safe_key(key)}"
        try:
            inside = _inside(type(self.fs), _normalized(self.fs, full))
        except ValueError:
            inside = False
        if not inside:
            raise StoreNotAllowed(f"Store {self.url[:200]} (key {key[:200]!r}) is outside REGIONS_STORE_ALLOWED_ROOTS;"
                                  " set the region's store_url to a store inside them.",
                                  details={"storeUrl": self.url, "key": key})
        return full

    def exists(self, key: str) -> bool:
        return self.fs.exists(self.path(key))

    def size(self, key: str) -> int:
        return int(self.fs.size(self.path(key)))

    def read_bytes(self, key: str) -> bytes:
        return self.fs.cat_file(self.path(key))

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        with self.fs.open(self.path(key), "rb", block_size=self.chunk) as fh:
            while chunk := fh.read(self.chunk):
                yield chunk

    def iter_views(self, key: str) -> Iterator[memoryview]:
        """Chunks as views of one reused buffer: each is valid until the next is asked for.

        Reading into the same buffer avoids allocating (and page-faulting) a fresh
        chunk-sized bytes object per read, which costs more than the copy itself.
        """
        buffer = bytearray(self.chunk)
        view = memoryview(buffer)
        with self.fs.open(self.path(key), "rb", block_size=self.chunk) as fh:
            while n := fh.readinto(buffer):
                yield view[:n]

    def sha256(self, key: str) -> str:
        digest = hashlib.sha256()
        for chunk in self.iter_views(key):
            digest.update(chunk)
        return digest.hexdigest()

    def delete(self, key: str) -> None:
        if self.exists(key):
            self.fs.rm_file(self.path(key))

    def write_stream(self, key: str, chunks: Iterable[bytes]) -> StoredObject:
        """Write `chunks` under `key` atomically; digest and size of what was written."""
        temp = self._temp_key(key)
        digest, size = hashlib.sha256(), 0
        try:
            self._write(temp, chunks, digest)
            size = self.size(temp)
            self.commit(temp, key)
        except BaseException:
            self._discard(temp)
            raise
        return StoredObject(key=key, sha256=digest.hexdigest(), size_bytes=size)

    def stage_copy(self, source: Store, key: str, *, verify: bool) -> tuple[str, CopyResult]:
        """Stream `key` from `source` to a temporary key here; with `verify`, hash what landed.

        Returns the temporary key (the caller commits or discards it once it has compared
        digests) and the transfer's figures. With `verify` only the bytes read back are
        hashed: any change on the way or at either end shows there, so hashing the
        stream as well would only cost time; without it the stream is hashed instead.
        """
        temp = self._temp_key(key)
        digest = None if verify else hashlib.sha256()
        try:
            if verify and self._both_local(source):
                transferred = self._kernel_copy(source.path(key), self.path(temp))
            else:
                transferred = self._write(temp, source.iter_views(key), digest)
            landed = self.sha256(temp) if verify else ""
        except BaseException:
            self._discard(temp)
            raise
        return temp, CopyResult(bytes_transferred=transferred,
                                source_sha256=digest.hexdigest() if digest is not None else "",
                                target_sha256=landed)

    def _both_local(self, other: Store) -> bool:
        # Exactly the local filesystem (a subclass may change bytes on their way, as tests do).
        return type(self.fs) is LocalFileSystem and type(other.fs) is LocalFileSystem

    def _kernel_copy(self, source_path: str, target_path: str) -> int:
        """Local to local: the kernel copies (sendfile), several times faster than a read/write loop."""
        self.fs.makedirs(target_path.rsplit("/", 1)[0], exist_ok=True)
        shutil.copyfile(source_path, target_path)
        return os.path.getsize(target_path)

    def commit(self, temp: str, key: str) -> None:
        self.fs.mv(self.path(temp), self.path(key))

    def discard(self, temp: str) -> None:
        self._discard(temp)

    def _write(self, key: str, chunks: Iterable[bytes], digest) -> int:
        path = self.path(key)
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        written = 0
        with self.fs.open(path, "wb", block_size=self.chunk) as out:
            for chunk in chunks:
                if digest is not None:
                    digest.update(chunk)
                out.write(chunk)
                written += len(chunk)
        return written

    def _discard(self, key: str) -> None:
        try:
            self.delete(key)
        except (OSError, StoreNotAllowed):  # nothing to clean up, or the store is gone: the temp key is harmless
            pass

    @staticmethod
    def _temp_key(key: str) -> str:
        return f"{key}.part-{secrets.token_hex(4)}"


@lru_cache(maxsize=64)
def store_for(url: str) -> Store:
    """The store at `url` (cached: fsspec filesystems are reusable and thread-safe to read)."""
    return Store(url)
