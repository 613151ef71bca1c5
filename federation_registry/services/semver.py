"""npm semver through node-semver (a port of npm's own `semver`), parsed once and memoised.
It validates the versions the registry stores (a package's own version is npm's). Resolution
does not use it: each runtime evaluates ranges with its own semver (semver_webpack.py,
semver_mf2.py; rule R13 in docs/module-federation.md)."""
from __future__ import annotations

from functools import cmp_to_key, lru_cache

import nodesemver

__all__ = ["valid_version", "valid_range", "satisfies", "version_lt", "sort_versions", "normalize_version"]


def normalize_version(version: str) -> str:
    """"18" and "18.2" become "18.0.0"/"18.2.0", as the MF 2.0 runtime's versionLt pads
    numeric versions (runtime-core utils/share.ts, transformInvalidVersion)."""
    text = str(version).strip().lstrip("v=")
    parts = text.split(".")
    if all(p.isdigit() for p in parts) and 0 < len(parts) < 3:
        text = ".".join(parts + ["0"] * (3 - len(parts)))
    return text


@lru_cache(maxsize=65536)
def _semver(version: str):
    return nodesemver.make_semver(normalize_version(version), loose=False)


@lru_cache(maxsize=65536)
def _range(spec: str):
    return nodesemver.make_range(spec, loose=False)


def valid_version(version: str) -> bool:
    try:
        _semver(version)
        return True
    except (ValueError, TypeError):
        return False


def valid_range(spec: str) -> bool:
    try:
        return nodesemver.valid_range(spec, loose=False) is not None
    except (ValueError, TypeError):
        return False


@lru_cache(maxsize=262144)
def satisfies(version: str, spec: str | None) -> bool:
    """npm semantics: `^`, `~`, `x`/`*`, `||`, hyphen ranges; a pre-release satisfies a range
    only through a comparator on the same major.minor.patch that has a pre-release itself."""
    if spec is None or spec in ("", "*"):
        return True
    try:
        return bool(_range(spec).test(_semver(version)))
    except (ValueError, TypeError):
        return False


@lru_cache(maxsize=262144)
def version_lt(a: str, b: str) -> bool:
    return _semver(a).compare(_semver(b)) < 0


def sort_versions(versions, *, reverse: bool = False) -> list[str]:
    return sorted(versions, key=cmp_to_key(lambda a, b: _semver(a).compare(_semver(b))), reverse=reverse)
