"""Outages of the services fedplane depends on: 503 with Retry-After, never a 500.

A request that fails because PostgreSQL, Redis or the broker cannot be reached did not
fail because of what it asked; the client should retry it. The exception handler (DRF
views, authentication included) and ApiErrorMiddleware (any other API view) both answer
these with the error envelope, code SERVICE_UNAVAILABLE, and the dependency named.
"""
from __future__ import annotations

import logging

import redis.exceptions
from django.conf import settings
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError

__all__ = ["OUTAGE_ERRORS", "REDIS_ERRORS", "dependency_of", "outage_message"]

log = logging.getLogger("fedplane.api")

REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
# Order matters: Celery wraps a Redis broker's ConnectionError in kombu's OperationalError.
_DEPENDENCIES: tuple[tuple[type[BaseException] | tuple, str], ...] = (
    (BrokerError, "broker"),
    ((OperationalError, InterfaceError), "database"),
    (REDIS_ERRORS, "redis"),
)
OUTAGE_ERRORS = (BrokerError, OperationalError, InterfaceError, *REDIS_ERRORS)


def dependency_of(exc: BaseException) -> str | None:
    """'database', 'redis' or 'broker' when `exc` means that service is unreachable, else None."""
    for classes, name in _DEPENDENCIES:
        if isinstance(exc, classes):
            return name
    return None


def outage_message(dependency: str, exc: BaseException, request=None) -> tuple[str, dict, dict]:
    """(message, details, headers) of the 503 answered for `exc`; logged once per request,
    without a traceback: the cause is outside this process and a traceback per request
    during an outage would bury everything else."""
    log.warning("%s unavailable on %s %s: %s", dependency, getattr(request, "method", "-"),
                getattr(request, "path", "-"), str(exc).strip().splitlines()[0] if str(exc).strip() else
                type(exc).__name__)
    retry_after = settings.OUTAGE_RETRY_AFTER_SECONDS
    return (f"The {dependency} is unavailable; retry in a few seconds.",
            {"dependency": dependency, "retryAfter": retry_after}, {"Retry-After": str(retry_after)})
