"""Reading a Module Federation 2.0 `mf-manifest.json` into what the registry stores."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import urljoin

from fedplane.api.hosts import http_url_error

from ..errors import InvalidConfiguration
from .fetch import fetch

__all__ = ["ManifestInfo", "parse_manifest", "read_manifest"]


@dataclass(frozen=True)
class ManifestInfo:
    name: str
    version: str
    entry_url: str
    exposed_modules: list[str]
    shared: list[dict] = field(default_factory=list)  # [{"name","version","singleton","requiredVersion"}]
    remotes: list[str] = field(default_factory=list)  # container names this remote loads


def _invalid(url: str, reason: str) -> InvalidConfiguration:
    return InvalidConfiguration(f"Malformed manifest at {url}: {reason}.", details={"url": url, "reason": reason})


def _str(value, url: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _invalid(url, f"{what} must be a non-empty string")
    return value.strip()


def parse_manifest(raw: bytes, url: str) -> ManifestInfo:
    """The manifest the MF 2.0 build plugins emit: `metaData.remoteEntry` locates the entry
    relative to `metaData.publicPath` ("auto" means: where the manifest was served from)."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _invalid(url, "not JSON")
    if not isinstance(doc, dict):
        raise _invalid(url, "top level must be an object")
    meta = doc.get("metaData")
    if not isinstance(meta, dict):
        raise _invalid(url, "metaData is missing")
    entry = meta.get("remoteEntry")
    if not isinstance(entry, dict):
        raise _invalid(url, "metaData.remoteEntry is missing")
    name = _str(doc.get("name") or meta.get("name"), url, "name")
    entry_name = _str(entry.get("name"), url, "metaData.remoteEntry.name")
    entry_path = entry.get("path") or ""
    if not isinstance(entry_path, str):
        raise _invalid(url, "metaData.remoteEntry.path must be a string")
    public_path = meta.get("publicPath", "auto")
    if not isinstance(public_path, str):
        raise _invalid(url, "metaData.publicPath must be a string")
    base = url if public_path in ("auto", "") else urljoin(url, public_path)
    relative = "/".join(p.strip("/") for p in (entry_path, entry_name) if p.strip("/"))
    build = meta.get("buildInfo") if isinstance(meta.get("buildInfo"), dict) else {}
    version = str(build.get("buildVersion") or doc.get("version") or "0.0.0")
    if len(name) > 100 or len(version) > 64:  # the columns' sizes: too long is the manifest's fault, not a 500
        raise _invalid(url, "name is longer than 100 characters or version longer than 64")
    exposes, shared, remotes = doc.get("exposes", []), doc.get("shared", []), doc.get("remotes", [])
    if not all(isinstance(x, list) for x in (exposes, shared, remotes)):
        raise _invalid(url, "exposes, shared and remotes must be lists")
    exposed = []
    for item in exposes:
        if not isinstance(item, dict):
            raise _invalid(url, "exposes items must be objects")
        path = item.get("path") or (f"./{item['name']}" if isinstance(item.get("name"), str) else None)
        exposed.append(_str(path, url, "exposes[].path"))
    packages = []
    for item in shared:
        if not isinstance(item, dict):
            raise _invalid(url, "shared items must be objects")
        packages.append({"name": _str(item.get("name"), url, "shared[].name"),
                         "version": _str(item.get("version"), url, "shared[].version"),
                         "singleton": bool(item.get("singleton", False)),
                         "requiredVersion": str(item.get("requiredVersion") or f"^{item['version']}")})
    names = [r.get("federationContainerName") or r.get("moduleName") for r in remotes if isinstance(r, dict)]
    entry_url = urljoin(base, relative)
    invalid = http_url_error(entry_url, refuse_link_local=False)  # stored, then fetched on every load
    if invalid or len(entry_url) > 1000:
        raise _invalid(url, f"its remote entry URL {entry_url[:200]!r} is unusable: {invalid or 'too long'}")
    return ManifestInfo(name=name, version=version, entry_url=entry_url, exposed_modules=exposed,
                        shared=packages, remotes=[n for n in names if isinstance(n, str) and n])


def read_manifest(url: str) -> ManifestInfo:
    return parse_manifest(fetch(url).body, url)
