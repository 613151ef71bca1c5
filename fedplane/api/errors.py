"""Error codes, domain errors, and the one handler that renders them all.

Services raise `DomainError` subclasses carrying a seed code (FL001, MF003, ...);
`exception_handler` turns those and every DRF/Django exception into the error
envelope with the right status. No view builds an error dict by hand.
"""
from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404
from django.utils import timezone
from rest_framework import exceptions as drf
from rest_framework.response import Response

from .envelope import EnvelopeJSONRenderer
from .outages import dependency_of, outage_message

__all__ = ["ErrorCode", "DomainError", "NotFound", "Conflict", "CodedValidationError", "exception_handler",
           "error_body", "error_response"]

log = logging.getLogger(__name__)


class ErrorCode:
    """Generic codes; each app's error_codes.py adds its seed codes."""

    BAD_REQUEST = "BAD_REQUEST"
    INVALID_JSON = "INVALID_JSON"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
    CONFLICT = "CONFLICT"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    RATE_LIMITED = "RATE_LIMITED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"


class DomainError(Exception):
    """A rule of the domain was broken; carries its code, status and details."""

    code: str = ErrorCode.BAD_REQUEST
    status: int = 400
    default_message: str = "The request could not be completed."

    def __init__(self, message: str | None = None, *, details: dict | None = None,
                 code: str | None = None, status: int | None = None) -> None:
        self.message = message or self.default_message
        self.details = details or {}
        if code:
            self.code = code
        if status:
            self.status = status
        super().__init__(self.message)


class NotFound(DomainError):
    code, status, default_message = ErrorCode.NOT_FOUND, 404, "Not found."


class Conflict(DomainError):
    code, status, default_message = ErrorCode.CONFLICT, 409, "Conflict with the current state."


class CodedValidationError(drf.ValidationError):
    """Field errors answered with a seed code (FL002, ...) instead of VALIDATION_ERROR: same 422,
    same message and the same `details` naming the fields."""

    def __init__(self, detail: Any, *, error_code: str) -> None:
        super().__init__(detail)
        self.error_code = error_code


def error_body(code: str, message: str, details: Any = None) -> dict:
    return {
        "success": False,
        "error": {
            "code": code,
            "message": message,
            "details": details if details is not None else {},
            "timestamp": timezone.now().isoformat().replace("+00:00", "Z"),
        },
    }


_DRF_CODES: dict[type, tuple[str, int]] = {
    drf.ParseError: (ErrorCode.INVALID_JSON, 400),
    drf.AuthenticationFailed: (ErrorCode.UNAUTHORIZED, 401),
    drf.NotAuthenticated: (ErrorCode.UNAUTHORIZED, 401),
    drf.PermissionDenied: (ErrorCode.FORBIDDEN, 403),
    drf.NotFound: (ErrorCode.NOT_FOUND, 404),
    drf.MethodNotAllowed: (ErrorCode.METHOD_NOT_ALLOWED, 405),
    drf.NotAcceptable: (ErrorCode.NOT_ACCEPTABLE, 406),
    drf.UnsupportedMediaType: (ErrorCode.UNSUPPORTED_MEDIA_TYPE, 415),
    drf.Throttled: (ErrorCode.RATE_LIMITED, 429),
}


def _validation_message(detail: Any) -> str:
    """First human-readable message of a nested DRF error detail."""
    if isinstance(detail, dict):
        for field, value in detail.items():
            inner = _validation_message(value)
            return inner if field == "non_field_errors" else f"{field}: {inner}"
    if isinstance(detail, list) and detail:
        return _validation_message(detail[0])
    return str(detail)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    request = context.get("request")
    response = _handle(exc, request)
    if response is not None and request is not None:
        # Errors are JSON whatever the view renders (the docs page's HTML, the schema's YAML).
        request.accepted_renderer, request.accepted_media_type = EnvelopeJSONRenderer(), "application/json"
    return response


def error_response(exc: Exception, request=None) -> Response | None:
    """The envelope `Response` (data, status, headers) for `exc`, unrendered; None for an unexpected
    exception. What DRF views answer through `exception_handler`; the lean path (lean.py) calls it too."""
    return _handle(exc, request)


def _handle(exc: Exception, request=None) -> Response | None:
    headers: dict[str, str] = {}
    dependency = dependency_of(exc)
    if dependency is not None:  # PostgreSQL, Redis or the broker is down (the API-key lookup included)
        message, details, headers = outage_message(dependency, exc, request)
        return Response(error_body(ErrorCode.SERVICE_UNAVAILABLE, message, details), status=503, headers=headers)
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status)
    if isinstance(exc, DataError):
        # A value the database cannot hold (too long, out of range, text it refuses) that no
        # validation caught: the caller's input, so 422, logged as the gap in validation it is.
        log.warning("database refused a value: %s", exc)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid value"
        return Response(error_body(ErrorCode.VALIDATION_ERROR, f"A value cannot be stored: {reason}"), status=422)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        return Response(error_body(ErrorCode.PAYLOAD_TOO_LARGE, "Request body is too large."), status=413)
    elif isinstance(exc, DjangoValidationError):
        exc = drf.ValidationError(detail=getattr(exc, "message_dict", None) or exc.messages)
    elif isinstance(exc, SuspiciousOperation):
        exc = drf.ParseError(str(exc))

    if isinstance(exc, drf.ValidationError):
        code = getattr(exc, "error_code", ErrorCode.VALIDATION_ERROR)
        return Response(error_body(code, _validation_message(exc.detail), exc.detail), status=422)
    if isinstance(exc, drf.APIException):
        code, status = next(
            ((c, s) for cls, (c, s) in _DRF_CODES.items() if isinstance(exc, cls)),
            (ErrorCode.BAD_REQUEST, exc.status_code),
        )
        code = getattr(exc, "error_code", None) or code  # a refused client certificate says why
        if isinstance(exc, drf.Throttled) and exc.wait is not None:
            headers["Retry-After"] = str(int(exc.wait))
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            headers["WWW-Authenticate"] = auth_header
        message = exc.detail if isinstance(exc.detail, str) else _validation_message(exc.detail)
        return Response(error_body(code, str(message)), status=status, headers=headers)
    return None  # unexpected: ApiErrorMiddleware logs it and answers a 500 envelope
