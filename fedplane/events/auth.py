"""Who is on a socket or stream: the same credentials as the REST API.

Browsers cannot set headers on a WebSocket, so a browser offers the JWT as a
subprotocol instead: `new WebSocket(url, ["fedplane.bearer", token])` sends it in
`Sec-WebSocket-Protocol`, which servers do not log (a query string is logged with the
path). `?token=` (JWT) and `?api_key=` are accepted too, beside the `Authorization` and
`X-API-Key` headers.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from rest_framework.exceptions import AuthenticationFailed

from fedplane.api.authentication import authenticate_api_key, authenticate_jwt

__all__ = ["Principal", "principal_from", "TokenAuthMiddleware", "BEARER_SUBPROTOCOL"]

BEARER_SUBPROTOCOL = "fedplane.bearer"


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    scopes: frozenset[str]


def _credentials(headers: dict[str, str], query: dict[str, list[str]]) -> tuple[str | None, str | None]:
    api_key = headers.get("x-api-key") or (query.get("api_key") or [None])[0]
    bearer = headers.get("authorization", "")
    token = bearer[7:].strip() if bearer.lower().startswith("bearer ") else (query.get("token") or [None])[0]
    offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")]
    if token is None and len(offered) == 2 and offered[0] == BEARER_SUBPROTOCOL:
        token = offered[1]
    return api_key, token


def principal_from(headers: dict[str, str], query_string: str) -> Principal | None:
    """Authenticate from lower-cased headers and the raw query string; None if absent or invalid."""
    api_key, token = _credentials(headers, parse_qs(query_string))
    try:
        if api_key:
            user, key = authenticate_api_key(api_key)
            return Principal(user.pk, user.get_username(), frozenset(key.scopes))
        if token:
            user, validated = authenticate_jwt(token)
            return Principal(user.pk, user.get_username(), frozenset(validated.payload.get("scopes", [])))
    except AuthenticationFailed:
        return None
    return None


class TokenAuthMiddleware:
    """ASGI middleware that puts `principal` into a WebSocket's scope."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        headers = {k.decode("latin1").lower(): v.decode("latin1") for k, v in scope.get("headers", [])}
        query = scope.get("query_string", b"").decode("latin1")
        scope = dict(scope, principal=await database_sync_to_async(principal_from)(headers, query))
        return await self.inner(scope, receive, send)
