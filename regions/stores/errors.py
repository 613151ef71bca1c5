"""A store's failures as domain errors that say what is wrong and whether trying again can help.

Every store operation turns what the filesystem raised (an OSError, or botocore's errors that
s3fs translates into OSErrors) into one of these, so an API call answers the error envelope
(never a 500) and a replication target records the reason. `retryable` is False where a retry
with the same settings cannot succeed (credentials refused, no such bucket, no permission).
"""
from __future__ import annotations

import errno

from fedplane.api.errors import DomainError

__all__ = ["StoreUnavailable", "StoreFull", "store_failure"]

# S3 error codes (and HTTP statuses of HEAD requests, which have no body) meaning the credentials
# or their permissions were refused.
_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "TokenRefreshRequired",
                "AccessDenied", "AllAccessDisabled", "AccountProblem", "403"}
_NO_BUCKET = {"NoSuchBucket"}
_FULL = {errno.ENOSPC, errno.EDQUOT, getattr(errno, "EFBIG", -1)}


class StoreUnavailable(DomainError):
    """The region's store refused or failed the operation."""

    code, status, default_message = "STORE_UNAVAILABLE", 503, "The region's store is unavailable."

    def __init__(self, message: str, *, reason: str, retryable: bool, details: dict | None = None) -> None:
        super().__init__(message, details={"reason": reason, **(details or {})})
        self.reason, self.retryable = reason, retryable


class StoreFull(StoreUnavailable):
    """No space left where the store writes (507 Insufficient Storage)."""

    code, status, default_message = "STORE_FULL", 507, "The region's store has no space left."


def _s3_code(exc: BaseException) -> str:
    """The S3 error code behind `exc` (s3fs keeps botocore's ClientError as the cause), or ""."""
    for err in (exc, exc.__cause__, exc.__context__):
        response = getattr(err, "response", None)
        if isinstance(response, dict):
            return str(response.get("Error", {}).get("Code", ""))
    return ""


def store_failure(exc: BaseException, *, store_url: str, op: str, key: str = "") -> StoreUnavailable:
    """`exc`, raised while `op` ran on `store_url` (at `key`), as the StoreUnavailable it means."""
    where = f"{store_url[:200]}{f' ({key[:200]})' if key else ''}"
    details = {"storeUrl": store_url, "operation": op, **({"key": key} if key else {})}
    code = _s3_code(exc)
    name = type(exc).__name__
    if name in ("NoCredentialsError", "PartialCredentialsError") or code in _CREDENTIALS:
        return StoreUnavailable(
            f"The store {where} refused the credentials while it {op} ({code or name}: {exc}); "
            "check REGIONS_S3_ACCESS_KEY_ID, REGIONS_S3_SECRET_ACCESS_KEY and their permissions.",
            reason="credentials", retryable=False, details=details)
    if code in _NO_BUCKET:
        bucket = store_url.split("://", 1)[-1].split("/", 1)[0]
        return StoreUnavailable(f"The store {where} has no bucket '{bucket}' ({code}); create it or correct the "
                                "region's store_url.", reason="no_bucket", retryable=False, details=details)
    if isinstance(exc, OSError) and exc.errno in _FULL:
        return StoreFull(f"No space left in the store {where} while it {op} ({exc.strerror or exc}); "
                         "free space or grow the volume.", reason="full", retryable=True, details=details)
    if isinstance(exc, PermissionError):
        return StoreUnavailable(f"The store {where} denied access while it {op} ({exc}).",
                                reason="permission", retryable=False, details=details)
    if isinstance(exc, FileNotFoundError):
        return StoreUnavailable(f"Nothing at {where} while it {op} ({exc}).", reason="not_found", retryable=True,
                                details=details)
    return StoreUnavailable(f"The store {where} failed while it {op} ({code or name}: {exc}).",
                            reason="io", retryable=True, details=details)
