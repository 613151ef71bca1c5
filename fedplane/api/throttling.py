"""Rate limits with the seed's buckets and X-RateLimit-* headers.

Every authenticated request counts in the `default` bucket; a view that sets
`throttle_bucket = "training"` (or "deployment") also counts its writes there.
Buckets belong to the credential (the seed: "per authentication token"): each API key
has its own, so one client machine heartbeating with its key does not spend another's
budget; JWT and session callers count per user.
"""
from __future__ import annotations

import time

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from .models import ApiKey
from .principals import ClientPrincipal
from .ratelimit import Window, hit_buckets, peek

__all__ = ["BucketThrottle", "caller_of", "count_request", "counter_keys", "current_limits"]

SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


class BucketThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        allowed, self._wait = count_request(request._request, request.user, request.auth, request.method,
                                            getattr(view, "throttle_bucket", None))
        return allowed

    def wait(self) -> float:
        return self._wait


def counter_keys(user, auth, method: str, extra_bucket: str | None) -> list[tuple[str, int]] | None:
    """(counter key, limit) of each bucket a request of this caller counts in, in order; None for
    a caller that is not counted (not authenticated)."""
    if not (user and user.is_authenticated):
        return None
    buckets = ["default"]
    if extra_bucket and method not in SAFE:
        buckets.append(extra_bucket)
    caller = caller_of(user, auth)
    return [(_key(bucket, caller), settings.RATE_LIMITS[bucket]) for bucket in buckets]


def count_request(http_request, user, auth, method: str, extra_bucket: str | None, *,
                  counted: list[Window] | None = None) -> tuple[bool, float]:
    """Count one request of `user` (with credential `auth`) in its buckets: (allowed, seconds to wait).

    Puts the tightest bucket's (limit, remaining, reset_at) on `http_request.ratelimit`, which
    RequestIdMiddleware copies onto the response whatever the view answers. The throttle of
    every DRF view and the lean inference path (fedplane/api/lean.py) both count through here.
    `counted`: the windows of `counter_keys`, counted already (the lean path counts in Redis from
    the event loop before it answers there).
    """
    keys = counter_keys(user, auth, method, extra_bucket)
    if keys is None:
        return True, 0.0
    limits = [limit for _, limit in keys]
    # All buckets in one call (one Redis round trip); counting stops at the first one over its limit.
    windows = counted if counted is not None else hit_buckets(keys, settings.RATE_LIMIT_WINDOW_SECONDS)
    tightest, denied = None, False
    for limit, window in zip(limits, windows):
        remaining = max(0, limit - window.count)
        if tightest is None or remaining < tightest[1]:
            tightest = (limit, remaining, window.reset_at)
        if window.count > limit:
            tightest, denied = (limit, 0, window.reset_at), True
            break
    http_request.ratelimit = tightest
    return not denied, max(0.0, tightest[2] - time.time())


def caller_of(user, auth) -> str:
    """Whose budget a request spends: the API key that made it, the client of a certificate, else its user."""
    if isinstance(auth, ApiKey):
        return f"key:{auth.prefix}"
    if isinstance(auth, ClientPrincipal):
        return f"client:{auth.client_id}"
    return f"user:{user.pk}"


def _key(bucket: str, caller: str) -> str:
    return f"ratelimit:{bucket}:{caller}"


def current_limits(user, auth) -> tuple[int, int, int]:
    """(limit, remaining, reset_at) of the caller's default bucket without counting a request,
    for responses decided before the throttle ran (a missing scope, for one)."""
    limit = settings.RATE_LIMITS["default"]
    window = peek(_key("default", caller_of(user, auth)), settings.RATE_LIMIT_WINDOW_SECONDS)
    return limit, max(0, limit - window.count), window.reset_at
