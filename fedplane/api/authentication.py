"""Credentials: `X-API-Key` (hashed, scoped, expiring) and JWT bearer tokens with scopes."""
from __future__ import annotations

from rest_framework import authentication, exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from .models import ApiKey

__all__ = ["ApiKeyAuthentication", "ScopedJWTAuthentication", "authenticate_api_key", "authenticate_jwt"]

AUTH_HEADER = 'Bearer realm="fedplane", ApiKey header="X-API-Key"'


def authenticate_api_key(raw_key: str):
    """(user, key) for a valid key; AuthenticationFailed for a wrong, revoked or expired one."""
    prefix, _, _ = raw_key.partition(".")
    key = ApiKey.objects.select_related("user").filter(prefix=prefix).first()
    if key is None or not key.is_valid(raw_key):
        raise exceptions.AuthenticationFailed("Invalid API key.")
    if key.revoked:
        raise exceptions.AuthenticationFailed("API key has been revoked.")
    if key.has_expired:
        raise exceptions.AuthenticationFailed("API key has expired; rotate it.")
    if not key.user.is_active:
        raise exceptions.AuthenticationFailed("API key owner is inactive.")
    return key.user, key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        raw_key = request.META.get("HTTP_X_API_KEY")
        if not raw_key:
            return None
        return authenticate_api_key(raw_key)

    def authenticate_header(self, request) -> str:
        return AUTH_HEADER


class ScopedJWTAuthentication(JWTAuthentication):
    """simplejwt's bearer authentication; the token's `scopes` claim is read by the permission."""

    def authenticate(self, request):
        try:
            return super().authenticate(request)
        except (InvalidToken, TokenError) as exc:
            raise exceptions.AuthenticationFailed("Token is invalid or expired.") from exc

    def authenticate_header(self, request) -> str:
        return AUTH_HEADER


def authenticate_jwt(raw_token: str):
    """(user, token) for a valid access token, for callers outside DRF (WebSocket, SSE)."""
    auth = ScopedJWTAuthentication()
    try:
        token = auth.get_validated_token(raw_token.encode())
    except (InvalidToken, TokenError) as exc:
        raise exceptions.AuthenticationFailed("Token is invalid or expired.") from exc
    return auth.get_user(token), token
