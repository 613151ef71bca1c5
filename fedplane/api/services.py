"""API key lifecycle: issue, rotate, revoke."""
from __future__ import annotations

from django.db import transaction

from .errors import DomainError
from .models import ApiKey
from .principals import user_scopes

__all__ = ["api_key_issue", "api_key_rotate", "api_key_revoke", "ScopeNotGranted"]


class ScopeNotGranted(DomainError):
    code, status, default_message = "FORBIDDEN", 403, "A key cannot hold scopes its owner lacks."


def api_key_issue(*, user, name: str, scopes: list[str]) -> tuple[ApiKey, str]:
    """A new key for `user`; returns the row and the one-time plaintext."""
    missing = set(scopes) - user_scopes(user)
    if missing:
        raise ScopeNotGranted(details={"missing": sorted(missing)})
    return ApiKey.objects.create_key(user=user, name=name, scopes=sorted(set(scopes)))


@transaction.atomic
def api_key_rotate(*, key: ApiKey) -> tuple[ApiKey, str]:
    """Revoke `key` now and issue a successor with the same name, scopes and a fresh 90 days."""
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    if key.revoked:
        raise DomainError("This key is already revoked; issue a new one.", code="CONFLICT", status=409)
    key.revoked = True
    key.save(update_fields=["revoked"])
    return ApiKey.objects.create_key(user=key.user, name=key.name, scopes=key.scopes, rotated_from=key)


def api_key_revoke(*, key: ApiKey) -> ApiKey:
    if not key.revoked:
        key.revoked = True
        key.save(update_fields=["revoked"])
    return key
