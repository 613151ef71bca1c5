"""Assertions on the API's envelopes, shared by the API kit's tests."""
from __future__ import annotations

import json

__all__ = ["error_of", "data_of", "RATE_HEADERS", "SECURITY_HEADERS"]

RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")

# The seed's "Security Headers", verbatim.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-XSS-Protection": "1; mode=block",
    "Content-Security-Policy": "default-src 'self'",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}


def _json(response) -> dict:
    content_type = response.headers.get("Content-Type", "")
    body = response.content
    assert content_type.startswith("application/json"), f"{response.status_code} {content_type}: {body[:300]!r}"
    assert b"Traceback" not in body and b"<html" not in body.lower()
    return json.loads(body)


def error_of(response, status: int, code: str | None = None) -> dict:
    """The `error` object of an error envelope answered with `status` (and `code`)."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.content[:500]!r}"
    body = _json(response)
    assert body["success"] is False, body
    error = body["error"]
    assert set(error) >= {"code", "message", "details", "timestamp"}, error
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


def data_of(response, status: int = 200) -> dict:
    """The whole success envelope of a response answered with `status`."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.content[:500]!r}"
    body = _json(response)
    assert body["success"] is True, body
    assert set(body["meta"]) >= {"timestamp", "version", "requestId"}, body
    return body
