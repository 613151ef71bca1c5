"""HTTP fetches of remote entries and manifests: a real request with a timeout and a size cap."""
from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
from django.conf import settings

from fedplane.api.hosts import destination_refusal, http_url_error

from ..errors import InvalidConfiguration, ModuleLoadFailed, NetworkTimeout

__all__ = ["Fetched", "fetch"]


@dataclass(frozen=True)
class Fetched:
    url: str
    status: int
    body: bytes
    elapsed_ms: float
    content_type: str


def _refuse(request: httpx.Request, why: str) -> None:
    raise ModuleLoadFailed(f"The registry does not fetch from {request.url.host}: {why}.", status=403,
                           details={"url": str(request.url), "reason": "destination_not_allowed"})


def _check_destination(request: httpx.Request) -> None:
    """Runs before every request, redirects included: a remote URL must not reach the cloud's
    metadata service (link-local) or, when an allow-list is set, any host outside it."""
    why = destination_refusal(request.url.host, request.url.port or 80,
                              allowed_hosts=settings.FEDERATION_FETCH_ALLOWED_HOSTS,
                              allow_setting="FEDERATION_FETCH_ALLOWED_HOSTS")
    if why:
        _refuse(request, why)


def fetch(url: str, *, timeout: float | None = None) -> Fetched:
    """GET `url`; MF007 past `timeout` seconds in total (a server that trickles bytes
    counts too), MF002 on a refused connection, an HTTP error status or an oversized body."""
    # The destination policy (allow-list, link-local) is checked per request below, redirects included.
    invalid = http_url_error(url, refuse_link_local=False)
    if invalid:
        # Stored before URLs were checked this way: a clear refusal instead of a UnicodeError at connect time.
        raise InvalidConfiguration(f"Cannot fetch {url[:200]}: {invalid}.", details={"url": url, "reason": invalid})
    timeout = settings.FEDERATION_FETCH_TIMEOUT if timeout is None else timeout
    limit = settings.FEDERATION_FETCH_MAX_BYTES
    started = time.perf_counter()
    deadline = started + timeout
    chunks: list[bytes] = []
    received = 0
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=True, max_redirects=5,
                          event_hooks={"request": [_check_destination]}) as client:
            with client.stream("GET", url, headers={"Accept": "*/*", "User-Agent": "fedplane-registry"}) as resp:
                for chunk in resp.iter_bytes():
                    received += len(chunk)
                    if received > limit:
                        raise ModuleLoadFailed(f"{url} is larger than {limit} bytes.",
                                               details={"url": url, "limit": limit})
                    chunks.append(chunk)
                    if time.perf_counter() > deadline:
                        raise httpx.ReadTimeout("total deadline exceeded")
                status, content_type = resp.status_code, resp.headers.get("content-type", "")
    except httpx.TimeoutException:
        raise NetworkTimeout(f"No complete answer from {url} within {timeout:g}s.",
                             details={"url": url, "timeoutSeconds": timeout})
    except (httpx.HTTPError, httpx.InvalidURL) as exc:  # refused, reset, DNS, bad URL, too many redirects
        raise ModuleLoadFailed(f"Could not fetch {url}: {exc.__class__.__name__}: {exc}",
                               details={"url": url})
    elapsed_ms = (time.perf_counter() - started) * 1000
    if status >= 400:
        raise ModuleLoadFailed(f"{url} answered HTTP {status}.", details={"url": url, "httpStatus": status})
    return Fetched(url=url, status=status, body=b"".join(chunks), elapsed_ms=elapsed_ms, content_type=content_type)
