"""Hosts in URLs the platform stores and later connects to: one validator, one destination check.

`http_url_error` checks a URL when it is accepted (a remote entry, a manifest, a region's
endpoint); `destination_refusal` checks where a connection would really go, just before it is
made. Host names are checked label by label (1-63 characters, at most 253 in all) and Unicode
labels are encoded with `idna` (IDNA 2008, UTS 46 mapping), so a name that the resolver could
not encode (`a..b`, a 64-character label) is a validation error, never a UnicodeError later.
"""
from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

import idna

__all__ = ["normalize_host", "host_allowed", "http_url_host", "http_url_error", "address_refusal", "destination_refusal"]

# ASCII labels: letters, digits, hyphens inside; underscores too (container and compose service
# names use them; resolvers accept them, only IDNA 2008 does not).
_ASCII_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")


_NUMERIC = re.compile(r"^[0-9a-fA-FxX.]+$")


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address `host` is written as, if it is one: resolvers also read IPv4 in the shorthand of
    inet_aton (2852039166, 0xa9fea9fe, 169.254.43518 are all 169.254.169.254)."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if _NUMERIC.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def normalize_host(host: str) -> str:
    """The host's ASCII (A-label) lower-case form; ValueError naming what is wrong."""
    if not host:
        raise ValueError("the URL has no host")
    address = _ip(host)
    if address is not None:
        return str(address) if address.version == 4 else host.lower()
    labels = host.split(".")
    if len(labels) > 1 and labels[-1] == "":
        labels.pop()  # a fully qualified name's final dot
    encoded = []
    for label in labels:
        if not label:
            raise ValueError(f"host {host!r} has an empty label")
        if label.isascii() and not label.lower().startswith("xn--"):
            if not _ASCII_LABEL.match(label):
                raise ValueError(f"host {host!r} has an invalid label {label[:70]!r} "
                                 "(1-63 letters, digits, hyphens or underscores)")
            encoded.append(label.lower())
            continue
        try:
            encoded.append(idna.encode(label, uts46=True).decode("ascii"))
        except idna.IDNAError as exc:
            raise ValueError(f"host {host!r} is not a valid internationalized name: {exc}") from None
    name = ".".join(encoded)
    if len(name) > 253:
        raise ValueError(f"host name is {len(name)} characters long, more than 253")
    return name


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """Empty allow-list: any host. Entries are exact names, or ".example.com" for a domain and its
    subdomains."""
    allowed = [entry.lower() for entry in allowed]
    return not allowed or any(host == entry or (entry.startswith(".") and (host.endswith(entry) or
                                                                           host == entry[1:]))
                              for entry in allowed)


def address_refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why no connection may go to `address` (link-local: the cloud's metadata service), or None."""
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:  # ::ffff:169.254.169.254 reaches the IPv4 address (Python 3.11 does not say so)
        address = mapped
    if address.is_link_local or address.is_multicast or address.is_unspecified:
        return f"{address} is a link-local, multicast or unspecified address"
    return None


def http_url_host(url: str) -> str:
    """The normalized host of an http(s) URL; ValueError naming what is wrong with the URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http(s) URL")
    parts.port  # noqa: B018 (raises ValueError on a port out of range)
    return normalize_host(parts.hostname or "")


def http_url_error(url: str, *, allowed_hosts: Iterable[str] = (), allow_setting: str = "",
                   refuse_link_local: bool = True) -> str | None:
    """What is wrong with `url` as an http(s) URL to connect to later, or None when it is fine."""
    try:
        host = http_url_host(url)
    except ValueError as exc:
        return str(exc)
    address = _ip(host)
    refusal = address_refusal(address) if address is not None and refuse_link_local else None
    if refusal:
        return f"host {refusal}"
    if not host_allowed(host, allowed_hosts):
        return f"host {host} is not in {allow_setting or 'the allowed hosts'}"
    return None


def destination_refusal(host: str, port: int, *, allowed_hosts: Iterable[str] = (),
                        allow_setting: str = "") -> str | None:
    """Checked just before connecting (redirects included): why the connection must not be made,
    or None. Resolves the name, so a name pointing at a link-local address is refused too; an
    unresolvable name passes (the connection attempt itself reports it)."""
    try:
        ascii_host = normalize_host(host)
    except ValueError as exc:
        return str(exc)
    if not host_allowed(ascii_host, allowed_hosts):
        return f"not in {allow_setting or 'the allowed hosts'}"
    try:
        infos = socket.getaddrinfo(ascii_host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return None
    for info in infos:
        address = _ip(str(info[4][0]))
        refusal = address_refusal(address) if address is not None else None
        if refusal:
            return f"it resolves to {refusal}"
    return None
