"""Scope enforcement: each view names the scope each method (or action) needs."""
from __future__ import annotations

from rest_framework import permissions

from .principals import ClientPrincipal, request_scopes

__all__ = ["HasRequiredScopes", "required_scope", "required_client_scope"]

SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


def required_scope(view, request) -> str | None:
    """`required_scopes` maps an action name, an HTTP method, "read" or "write" to a scope."""
    mapping: dict[str, str] = getattr(view, "required_scopes", {})
    action = getattr(view, "action", None)
    for key in (action, request.method, "read" if request.method in SAFE else "write"):
        if key and key in mapping:
            return mapping[key]
    return None


def required_client_scope(view, request) -> str | None:
    """`client_scopes` maps an action name (or HTTP method) to the client scope a certificate needs."""
    mapping: dict[str, str] = getattr(view, "client_scopes", {})
    for key in (getattr(view, "action", None), request.method):
        if key and key in mapping:
            return mapping[key]
    return None


class HasRequiredScopes(permissions.BasePermission):
    """Authenticated, and holding the scope the view asks for this request.

    A view that spans systems may instead set `scope_rule = ("all" | "any", scopes)`:
    every one of the scopes, or at least one of them, for every method.
    """

    message = "This credential lacks the scope required here."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if isinstance(request.user, ClientPrincipal):
            return self._client_may(view, request)
        rule = getattr(view, "scope_rule", None)
        if rule is not None:
            return self._rule_holds(*rule, held=request_scopes(request))
        scope = required_scope(view, request)
        if scope is None:
            return True
        if scope in request_scopes(request):
            return True
        self.message = f"Missing scope '{scope}'."
        return False

    def _client_may(self, view, request) -> bool:
        """A client certificate opens only the calls a view names in `client_scopes`, nothing else."""
        scope = required_client_scope(view, request)
        if scope is not None and scope in request.user.scopes:
            owns = getattr(view, "client_owns", None)  # none named: nothing is the client's (fail closed)
            if owns is not None and owns(request.user, getattr(view, "kwargs", {})):
                return True
            self.message = (f"This certificate is client {request.user.client_id}'s: it reaches that client's own "
                            "records and the executions it is assigned to, not these.")
            return False
        self.message = ("A client certificate authenticates its client's own calls only (status, heartbeat, "
                        "metrics, assignments, certificate renewal), not this one.")
        return False

    def _rule_holds(self, mode: str, scopes, *, held) -> bool:
        missing = [scope for scope in scopes if scope not in held]
        if (mode == "all" and not missing) or (mode == "any" and len(missing) < len(scopes)):
            return True
        joined = "' and '" if mode == "all" else "' or '"
        self.message = f"Missing scope '{joined.join(missing)}'."
        return False
