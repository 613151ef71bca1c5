"""Who is calling and which scopes they hold, whatever the credential."""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from .scopes import ALL_SCOPES

__all__ = ["user_scopes", "request_scopes"]


def user_scopes(user: AbstractBaseUser | AnonymousUser) -> frozenset[str]:
    """A superuser holds every scope; anyone else holds the scope-named groups they belong to."""
    if not user or not user.is_authenticated or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return ALL_SCOPES
    return frozenset(user.groups.filter(name__in=ALL_SCOPES).values_list("name", flat=True))


def request_scopes(request) -> frozenset[str]:
    """Scopes of the credential used: the key's, the token's claim, or the session user's."""
    cached = getattr(request, "_fedplane_scopes", None)
    if cached is not None:
        return cached
    auth = getattr(request, "auth", None)
    if auth is not None and hasattr(auth, "scopes") and hasattr(auth, "prefix"):  # ApiKey
        scopes = frozenset(auth.scopes)
    elif auth is not None and hasattr(auth, "payload"):  # JWT
        scopes = frozenset(auth.payload.get("scopes", []))
    else:
        scopes = user_scopes(getattr(request, "user", None))
    request._fedplane_scopes = scopes
    return scopes
