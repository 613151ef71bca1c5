"""Cross-cutting HTTP behaviour: request ids, security headers, body limits, audit, 500s."""
from __future__ import annotations

import logging
import os
import re
import threading
import time

from django.conf import settings
from django.contrib.messages.middleware import MessageMiddleware
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpResponse

from .envelope import dumps
from .errors import ErrorCode, error_body
from .metrics import record_exception
from .models import AuditEntry
from .outages import OUTAGE_ERRORS, dependency_of, outage_message
from .throttling import current_limits

__all__ = [
    "RequestIdMiddleware",
    "SecurityHeadersMiddleware",
    "BodySizeLimitMiddleware",
    "UnstorableTextMiddleware",
    "ApiErrorMiddleware",
    "AuditMiddleware",
    "PageMessageMiddleware",
    "json_error",
    "unavailable",
    "audit_note",
]

log = logging.getLogger("fedplane.api")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class _RequestIds(threading.local):
    """Version-4 UUIDs as text, from random bytes drawn 4 KiB at a time: `str(uuid.uuid4())` is a
    system call (os.urandom) and a UUID object per request. A forked child draws its own."""

    def __init__(self) -> None:
        self.pool, self.at = b"", 0

    def next(self) -> str:
        if self.at >= len(self.pool):
            self.pool, self.at = os.urandom(4096), 0
        raw = bytearray(self.pool[self.at:self.at + 16])
        self.at += 16
        raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
        raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
        h = raw.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_request_ids = _RequestIds()


def _new_request_ids() -> None:
    global _request_ids
    _request_ids = _RequestIds()


os.register_at_fork(after_in_child=_new_request_ids)


def new_request_id() -> str:
    return _request_ids.next()
API_PREFIX = "/api/"
OIP_PREFIX = "/v2/"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Django answers these itself (400/403/404) through the handlers in views_errors.py.
_DJANGO_ANSWERS = (Http404, PermissionDenied, SuspiciousOperation, BadRequest)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-XSS-Protection": "1; mode=block",
    "Content-Security-Policy": "default-src 'self'",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}


def json_error(status: int, code: str, message: str, details=None, request=None) -> HttpResponse:
    response = HttpResponse(dumps(error_body(code, message, details)), status=status, content_type="application/json")
    if request is not None and getattr(request, "request_id", None):
        response["X-Request-ID"] = request.request_id
    return response


def unavailable(exception: BaseException, request) -> HttpResponse | None:
    """The 503 envelope (with Retry-After) when `exception` is an outage of PostgreSQL, Redis or
    the broker; None for any other exception."""
    dependency = dependency_of(exception)
    if dependency is None:
        return None
    message, details, headers = outage_message(dependency, exception, request)
    response = json_error(503, ErrorCode.SERVICE_UNAVAILABLE, message, details, request)
    for header, value in headers.items():
        response[header] = value
    return response


class RequestIdMiddleware:
    """Echo a well-formed X-Request-ID or mint one; add rate-limit headers for any known caller."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request.request_id = incoming if _REQUEST_ID.match(incoming) else new_request_id()
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        ratelimit = getattr(request, "ratelimit", None)
        user = getattr(request, "user", None)
        if ratelimit is None and request.path.startswith(API_PREFIX) and user is not None and user.is_authenticated:
            ratelimit = current_limits(user, getattr(request, "auth", None))  # refused before its throttle counted
        if ratelimit:
            limit, remaining, reset_at = ratelimit
            response["X-RateLimit-Limit"] = str(limit)
            response["X-RateLimit-Remaining"] = str(remaining)
            response["X-RateLimit-Reset"] = str(reset_at)
        return response


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        for header, value in SECURITY_HEADERS.items():
            response.headers.setdefault(header, value)
        return response


class BodySizeLimitMiddleware:
    """Refuse an oversized body with 413 before anything reads it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return json_error(400, ErrorCode.BAD_REQUEST, "Invalid Content-Length header.", request=request)
        if length > settings.MAX_REQUEST_BODY_BYTES:
            return json_error(
                413, ErrorCode.PAYLOAD_TOO_LARGE,
                f"Request body of {length} bytes exceeds the limit of {settings.MAX_REQUEST_BODY_BYTES}.",
                {"limit": settings.MAX_REQUEST_BODY_BYTES}, request,
            )
        return self.get_response(request)


class UnstorableTextMiddleware:
    """A NUL character in an API path or query string (%00): PostgreSQL can neither store nor
    compare text holding one (a DataError, a 500) where SQLite can, so it is refused alike on
    both before any view: no resource is named with one (404), and no parameter takes one (422)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path
        if not path.startswith(API_PREFIX) and not path.startswith(OIP_PREFIX):
            return self.get_response(request)
        if "\x00" in path:
            return _refused(request, 404, ErrorCode.NOT_FOUND, "No resource has a NUL character in its name.")
        if "%00" in request.META.get("QUERY_STRING", ""):
            for name, values in request.GET.lists():
                if "\x00" in name or any("\x00" in value for value in values):
                    shown = name.replace("\x00", "\\0")
                    return _refused(request, 422, ErrorCode.VALIDATION_ERROR,
                                    f"{shown}: a NUL character is not allowed.", {shown: ["NUL is not allowed."]})
        return self.get_response(request)


def _refused(request, status: int, code: str, message: str, details=None) -> HttpResponse:
    if request.path.startswith(OIP_PREFIX):  # the Open Inference Protocol's own error body
        return HttpResponse(dumps({"error": message}), status=status, content_type="application/json")
    return json_error(status, code, message, details, request)


class PageMessageMiddleware(MessageMiddleware):
    """django.contrib.messages for pages (admin, dashboard) only: no API view adds a flash
    message, and building the cookie/session storage cost every API request ~30 us."""

    def process_request(self, request):
        if not request.path.startswith(API_PREFIX):
            super().process_request(request)


class ApiErrorMiddleware:
    """An unexpected exception on an API path is logged and answered in the envelope, never as HTML."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not request.path.startswith(API_PREFIX) or isinstance(exception, _DJANGO_ANSWERS):
            return None
        outage = unavailable(exception, request)  # a view outside DRF met an outage: 503, as DRF views do
        if outage is not None:
            return outage
        record_exception(request, exception)  # PrometheusMiddleware (outermost) never sees it once answered
        log.exception("unhandled error on %s %s (request %s)", request.method, request.path,
                      getattr(request, "request_id", "-"))
        return json_error(500, ErrorCode.INTERNAL_ERROR, "An internal error occurred; it has been logged.",
                          {"requestId": getattr(request, "request_id", None)}, request)


def audit_note(request, **details) -> None:
    """Details for this request's audit line (ids and counts only: the audit log keeps no
    personal data). A DRF view passes its Request; the note lands on Django's request."""
    target = getattr(request, "_request", request)
    target.audit_details = {**getattr(target, "audit_details", {}), **details}


class AuditMiddleware:
    """Record every write through the API, whatever its outcome.

    A view whose POST changes no stored state (predict: it is metered in the regions'
    request metrics instead) says so with `audited = False`. A viewset whose reads are
    audited too (a client's export) names those actions in `audited_reads`.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        if request.path.startswith(API_PREFIX) and (
                (request.method in WRITE_METHODS and self._audited(request)) or self._audited_read(request)):
            self._record(request, response, (time.perf_counter() - started) * 1000)
        return response

    @staticmethod
    def _audited(request) -> bool:
        match = getattr(request, "resolver_match", None)
        view_class = getattr(getattr(match, "func", None), "view_class", None)
        return getattr(view_class, "audited", True)

    @staticmethod
    def _audited_read(request) -> bool:
        func = getattr(getattr(request, "resolver_match", None), "func", None)
        actions = getattr(func, "actions", None) or {}
        audited = getattr(getattr(func, "cls", None), "audited_reads", ())
        return bool(audited) and actions.get(request.method.lower()) in audited

    @staticmethod
    def _record(request, response, duration_ms: float) -> None:
        user = getattr(request, "user", None)
        authenticated = bool(user and user.is_authenticated)
        key = getattr(request, "auth", None)
        match = getattr(request, "resolver_match", None)
        try:
            AuditEntry.objects.create(
                user=user if authenticated and user.pk is not None else None,  # a client certificate: no account
                username=user.get_username() if authenticated else "",
                api_key_prefix=getattr(key, "prefix", "") or "",
                method=request.method,
                path=request.path[:512],
                view_name=(match.view_name if match else "")[:200],
                status_code=response.status_code,
                outcome=AuditEntry.outcome_for(response.status_code),
                request_id=request.request_id,
                remote_addr=request.META.get("REMOTE_ADDR") or None,
                duration_ms=duration_ms,
                details=getattr(request, "audit_details", {}),
            )
        except OUTAGE_ERRORS as exc:  # the database is down: one line per request, not a traceback each
            log.error("could not record audit entry for %s %s: %s", request.method, request.path, exc)
        except Exception:  # the write already happened; losing its audit row must be loud
            log.exception("could not record audit entry for %s %s", request.method, request.path)
