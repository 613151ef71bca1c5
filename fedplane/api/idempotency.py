"""Idempotency-Key on POSTs under /api/v1/: a retry gets the first answer, never a second write.

A POST carrying `Idempotency-Key` claims the key for its caller (the API key, or the user
of a token or session) before the view runs:

- first use: the view runs; its answer (status, body, a few headers) is stored with the key;
- a retry with the same method, path and body: the stored answer, with `Idempotent-Replayed: true`;
- same key, another body or path: 409 IDEMPOTENCY_KEY_REUSED;
- same key while the first request still runs: 409 IDEMPOTENCY_KEY_IN_PROGRESS with Retry-After
  (no request waits on another; the client retries).

Answers that say "not now" rather than "done" are not kept, so a retry runs again: 5xx
(an outage), 401, 403 and 429. Keys expire after IDEMPOTENCY_KEY_TTL_SECONDS. A claim
whose answer was never stored (the process died, or the database went away right after
the write) lapses after IDEMPOTENCY_LOCK_SECONDS; a retry then runs the request again.
Records live in the database: shared by every web process, kept across restarts.

A view whose answer holds a secret shown once (an API key, a token) sets `idempotent = False`:
the header is ignored there, so the secret is never stored.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.utils import timezone
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.settings import api_settings

from .errors import ErrorCode
from .middleware import json_error, unavailable
from .models import IdempotencyRecord
from .outages import OUTAGE_ERRORS
from .throttling import caller_of

__all__ = ["IdempotencyMiddleware", "HEADER", "REPLAYED_HEADER"]

log = logging.getLogger("fedplane.api")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
PREFIX = "/api/v1/"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, as the IETF draft's sf-string
_NOT_KEPT = frozenset({401, 403, 429})
_KEPT_HEADERS = ("Location", "Content-Disposition", "ETag", "Last-Modified")
_PURGE_EVERY = 60.0  # seconds between two deletions of expired records, per process
_next_purge = 0.0


class IdempotencyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.META.get("HTTP_IDEMPOTENCY_KEY")
        if key is None or request.method != "POST" or not request.path.startswith(PREFIX) or not _applies(request):
            return self.get_response(request)
        if not _KEY.match(key):
            return json_error(400, ErrorCode.BAD_REQUEST, f"{HEADER} must be 1 to 255 visible ASCII characters.",
                              {"header": HEADER}, request)
        try:
            return self._once(request, key)
        except OUTAGE_ERRORS as exc:  # raised here, outside any view: answered as the views answer it
            return unavailable(exc, request)

    def _once(self, request: HttpRequest, key: str) -> HttpResponse:
        principal = _principal(request)
        if principal is None:  # no valid credential: the view answers (401, or an anonymous endpoint)
            return self.get_response(request)
        fingerprint = _fingerprint(request)
        record, claimed = _claim(principal, key, request, fingerprint)
        if not claimed:
            return _answer_for(record, fingerprint, request)
        try:
            response = self.get_response(request)
        except BaseException:
            _release(record)
            raise
        _store(record, response)
        return response


def _applies(request: HttpRequest) -> bool:
    try:
        func = resolve(request.path_info).func
    except Resolver404:
        return False
    view_class = getattr(func, "cls", None) or getattr(func, "view_class", None)
    return getattr(view_class, "idempotent", True)


def _principal(request: HttpRequest) -> str | None:
    """Whose key this is, by the same authenticators the view will run; None without valid credentials."""
    drf_request = Request(request, authenticators=[cls() for cls in api_settings.DEFAULT_AUTHENTICATION_CLASSES])
    for authenticator in drf_request.authenticators:
        try:
            found = authenticator.authenticate(drf_request)
        except APIException:
            return None
        if found is not None:
            return caller_of(*found)
    return None


def _fingerprint(request: HttpRequest) -> str:
    """Method, path with query, and body; a JSON body by its content, so key order and spacing
    do not make a retry "another body"."""
    body = request.body
    if request.content_type == "application/json":
        try:
            body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
        except ValueError:
            pass  # the view will refuse it; the raw bytes still identify it
    digest = hashlib.sha256(f"{request.method} {request.get_full_path()}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def _claim(principal: str, key: str, request: HttpRequest, fingerprint: str) -> tuple[IdempotencyRecord, bool]:
    """(record, True) when this request now holds the key; (the existing record, False) otherwise."""
    _purge_expired()
    now = timezone.now()
    record = None
    for _ in range(2):  # a second time after removing an expired record of the same key
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    principal=principal, key=key, method=request.method, path=request.get_full_path()[:1024],
                    fingerprint=fingerprint, created_at=now, claimed_at=now), True
        except IntegrityError:
            pass
        record = IdempotencyRecord.objects.filter(principal=principal, key=key).first()
        if record is not None and record.created_at >= now - timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_SECONDS):
            break
        if record is not None:  # expired: as if it were not there
            IdempotencyRecord.objects.filter(pk=record.pk, created_at=record.created_at).delete()
            record = None
    if record is None:  # another request with this key won both races: it is the one running
        return IdempotencyRecord(principal=principal, key=key, fingerprint=fingerprint), False
    lapsed = now - timedelta(seconds=settings.IDEMPOTENCY_LOCK_SECONDS)
    if record.status_code is None and record.fingerprint == fingerprint and record.claimed_at < lapsed:
        # Its answer was never stored: take the key over (one retry wins the update) and run again.
        if IdempotencyRecord.objects.filter(pk=record.pk, status_code__isnull=True,
                                            claimed_at=record.claimed_at).update(claimed_at=now):
            record.claimed_at = now
            return record, True
    return record, False


def _answer_for(record: IdempotencyRecord, fingerprint: str, request: HttpRequest) -> HttpResponse:
    if record.fingerprint != fingerprint:
        return json_error(409, "IDEMPOTENCY_KEY_REUSED",
                          f"This {HEADER} was used for another request (method, path or body differ); "
                          "use a new key for a new request.",
                          {"header": HEADER, "method": record.method, "path": record.path}, request)
    if record.status_code is None:
        response = json_error(409, "IDEMPOTENCY_KEY_IN_PROGRESS",
                              f"A request with this {HEADER} is still running; retry shortly for its answer.",
                              {"header": HEADER}, request)
        response["Retry-After"] = "1"
        return response
    response = HttpResponse(bytes(record.body), status=record.status_code, content_type=record.content_type or None)
    for header, value in record.headers.items():
        response[header] = value
    response[REPLAYED_HEADER] = "true"
    return response


def _store(record: IdempotencyRecord, response: HttpResponse) -> None:
    status = response.status_code
    if status >= 500 or status in _NOT_KEPT or getattr(response, "streaming", False):
        _release(record)
        return
    record.status_code, record.body = status, response.content
    record.content_type = response.get("Content-Type", "")
    record.headers = {h: response[h] for h in _KEPT_HEADERS if h in response}
    try:
        record.save(update_fields=["status_code", "body", "content_type", "headers"])
    except OUTAGE_ERRORS as exc:
        # The write is done and the client gets its answer; only a retry within the claim's
        # lapse would see "in progress", and one after it would run again.
        log.error("could not store the answer of %s %s for its %s: %s", record.method, record.path, HEADER, exc)


def _release(record: IdempotencyRecord) -> None:
    """Free the key so that a retry runs the request again."""
    try:
        IdempotencyRecord.objects.filter(pk=record.pk, status_code__isnull=True).delete()
    except OUTAGE_ERRORS as exc:
        log.warning("could not release %s %r (it lapses in %s s): %s", HEADER, record.key,
                    settings.IDEMPOTENCY_LOCK_SECONDS, exc)


def _purge_expired() -> None:
    global _next_purge
    if time.monotonic() < _next_purge:
        return
    _next_purge = time.monotonic() + _PURGE_EVERY
    cutoff = timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_SECONDS)
    IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
