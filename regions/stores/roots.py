"""Where stores may be: REGIONS_STORE_ALLOWED_ROOTS, checked for a store URL and for every path.

A store URL is accepted only inside one of the roots (`store_url_error`), and every path a
store reads or writes is checked again (`inside`), after resolving symlinks on a local disk,
so neither a region registered before the roots changed nor a link inside a store reaches
anything outside.
"""
from __future__ import annotations

import os
import posixpath
from functools import lru_cache
from pathlib import PurePosixPath

from django.conf import settings
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from ..errors import StoreNotAllowed

__all__ = ["InvalidKey", "safe_key", "normalized", "inside", "store_url_error", "default_store_url"]


class InvalidKey(StoreNotAllowed):
    code, status, default_message = "VALIDATION_ERROR", 422, "The store key is not a path inside the store."


def default_store_url(region_name: str) -> str:
    return (settings.REGIONS_STORE_ROOT / region_name).resolve().as_uri()


def safe_key(key: str) -> str:
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
    return type(fs), normalized(fs, path)


def normalized(fs, path: str) -> str:
    if isinstance(fs, LocalFileSystem):
        return os.path.realpath(path)
    if ".." in PurePosixPath(path).parts:
        raise ValueError("'..' in a store path")
    return posixpath.normpath(path).rstrip("/") or "/"


@lru_cache(maxsize=32)
def _root(url: str) -> tuple[type, str]:
    return _location(url)


def inside(kind: type, path: str) -> bool:
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
    if not inside(kind, path):
        return (f"{url[:200]} is outside the allowed store roots "
                f"({', '.join(settings.REGIONS_STORE_ALLOWED_ROOTS) or 'none set'}; REGIONS_STORE_ALLOWED_ROOTS)")
    return None
