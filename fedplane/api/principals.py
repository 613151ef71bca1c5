"""Who is calling and which scopes they hold, whatever the credential."""
from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from .scopes import ALL_SCOPES

__all__ = ["user_scopes", "request_scopes", "ClientPrincipal", "client_principal"]


@dataclass(frozen=True)
class ClientPrincipal:
    """An FL client authenticated by a certificate (request.user and request.auth of that request).

    It is the client, not an account: no user id, no groups, only its client scopes, and a view
    accepts it only where it names a client scope (HasRequiredScopes); the view then holds it to
    its own `client_id`."""

    client_id: str
    scopes: frozenset[str]
    fingerprint: str  # of the certificate that authenticated it
    is_authenticated = True
    is_active = True
    is_anonymous = False
    is_superuser = False
    is_staff = False
    pk = None
    id = None

    def get_username(self) -> str:
        return f"client:{self.client_id}"

    def __str__(self) -> str:
        return self.get_username()


def client_principal(request) -> ClientPrincipal | None:
    """The client a request authenticated as by certificate, else None."""
    user = getattr(request, "user", None)
    return user if isinstance(user, ClientPrincipal) else None


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
    if isinstance(auth, ClientPrincipal):
        scopes = auth.scopes
    elif auth is not None and hasattr(auth, "scopes") and hasattr(auth, "prefix"):  # ApiKey
        scopes = frozenset(auth.scopes)
    elif auth is not None and hasattr(auth, "payload"):  # JWT
        scopes = frozenset(auth.payload.get("scopes", []))
    else:
        scopes = user_scopes(getattr(request, "user", None))
    request._fedplane_scopes = scopes
    return scopes
