"""Every route under the API prefixes, found by walking the URL resolver, with a
sample path that reaches it and the HTTP methods it answers. Routes that apps add
later are found without touching the tests that use this."""
from __future__ import annotations

import re
import uuid

from django.urls import Resolver404, URLResolver, get_resolver, resolve
from django.urls.resolvers import RegexPattern, RoutePattern

__all__ = ["PROTECTED_PREFIXES", "PUBLIC", "PUBLIC_PARAMETRISED", "DUMMIES", "endpoints", "methods", "protected_endpoints"]

PROTECTED_PREFIXES = ("/api/v1/", "/api/schema/", "/api/docs/")
PUBLIC = {"/api/v1/auth/token", "/api/v1/auth/token/refresh", "/livez", "/readyz", "/metrics"}
# Public routes that take parameters: their sample path names nothing that exists, so they
# are left out of the credential walk but not put in PUBLIC (whose paths must answer 200).
# The Module Federation shell runtime endpoint is fetched by browsers before they hold a credential.
PUBLIC_PARAMETRISED = {"/api/v1/federation/runtime/1/shell/1"}
DUMMIES = ("1", str(uuid.UUID(int=1)))  # fits int, str, slug, path and uuid parameters
_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")
_ROUTE_PARAM = re.compile(r"<(?:\w+:)?(\w+)>")


def _concrete(pattern, dummy: str) -> str:
    if isinstance(pattern, RoutePattern):
        return _ROUTE_PARAM.sub(dummy, str(pattern))
    assert isinstance(pattern, RegexPattern), pattern
    text = _GROUP.sub(dummy, str(pattern)).lstrip("^").rstrip("$")
    return text.replace("\\.", ".").replace("/?", "/")


def endpoints(patterns=None, prefix=()):
    """(sample path, callback) for every leaf route under the protected prefixes."""
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        chain = prefix + (entry.pattern,)
        if isinstance(entry, URLResolver):
            yield from endpoints(entry.url_patterns, chain)
            continue
        if not ("/" + "".join(_concrete(p, DUMMIES[0]) for p in chain)).startswith(PROTECTED_PREFIXES):
            continue
        for dummy in DUMMIES:
            path = "/" + "".join(_concrete(p, dummy) for p in chain)
            try:
                if resolve(path).func is entry.callback:
                    yield path, entry.callback
                    break
            except Resolver404:  # this dummy does not fit the route; try the next one
                continue
        else:
            route = "".join(str(p) for p in chain)
            raise AssertionError(f"no sample path reaches route {route!r}: an earlier route shadows it, "
                                 "or it takes a parameter DUMMIES cannot fill")


def methods(callback) -> list[str]:
    """The HTTP methods a view answers (GET for plain function views)."""
    actions = getattr(callback, "actions", None)
    if actions:  # DRF adds "head" once the view has served a GET; HEAD has no body to check
        return sorted(m.upper() for m in actions if m != "head")
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if cls is not None:
        return sorted(m.upper() for m in cls.http_method_names if hasattr(cls, m) and m not in ("options", "head"))
    return ["GET"]


def protected_endpoints() -> list[tuple[str, str]]:
    """(method, sample path) of every endpoint that requires credentials."""
    found = {(method, path) for path, callback in endpoints() if path not in PUBLIC | PUBLIC_PARAMETRISED
             for method in methods(callback)}
    return sorted(found, key=lambda mp: (mp[1], mp[0]))
