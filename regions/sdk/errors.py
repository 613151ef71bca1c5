"""The API's error envelope as exceptions."""
from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "NotFoundError", "RateLimitedError", "UnavailableError", "error_for"]


class ApiError(Exception):
    """An error answered by the API: its code (MODEL_NOT_FOUND, INVALID_INPUT, ...), message, status."""

    def __init__(self, code: str, message: str, status: int, details: Any = None) -> None:
        super().__init__(f"{code} ({status}): {message}")
        self.code, self.message, self.status, self.details = code, message, status, details or {}


class NotFoundError(ApiError):
    pass


class RateLimitedError(ApiError):
    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class UnavailableError(ApiError):
    pass


def error_for(status: int, body: Any, headers: Any) -> ApiError:
    error = (body or {}).get("error") if isinstance(body, dict) else None
    if isinstance(error, str):  # Open Inference Protocol bodies: {"error": "..."}
        error = {"code": "ERROR", "message": error}
    error = error or {"code": f"HTTP_{status}", "message": "The API answered without an error body."}
    args = (error.get("code", f"HTTP_{status}"), error.get("message", ""), status, error.get("details"))
    if status == 404:
        return NotFoundError(*args)
    if status == 429:
        retry = headers.get("Retry-After")
        return RateLimitedError(*args, retry_after=float(retry) if retry else None)
    if status in (502, 503, 504):
        return UnavailableError(*args)
    return ApiError(*args)
