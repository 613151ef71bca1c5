"""The operator dashboard page and the session-authenticated endpoint that renews its token."""
from __future__ import annotations

import base64
import hashlib

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpResponse
from django.middleware.csrf import CsrfViewMiddleware, get_token
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from fedplane.api.envelope import dumps, envelope
from fedplane.api.errors import ErrorCode
from fedplane.api.middleware import json_error

from . import services

__all__ = ["dashboard", "token"]


# Cytoscape.js adds this one <style> element to the page at start (its container must be positioned);
# its hash lets exactly that rule in, and no other inline style.
CYTOSCAPE_STYLE = ".__________cytoscape_container { position: relative; }"
_CYTOSCAPE_STYLE_HASH = base64.b64encode(hashlib.sha256(CYTOSCAPE_STYLE.encode()).digest()).decode()


def _csp(request) -> str:
    # The page talks to its own origin only; the WebSocket scheme is named because older
    # browsers do not count ws: as 'self'.
    host = request.get_host()
    return (f"default-src 'self'; connect-src 'self' ws://{host} wss://{host}; img-src 'self' data:; "
            f"style-src 'self' 'sha256-{_CYTOSCAPE_STYLE_HASH}'; "
            "object-src 'none'; base-uri 'self'; frame-ancestors 'none'")


@never_cache  # the page carries a bearer token
@staff_member_required
def dashboard(request):
    config = {
        "apiBase": "/api/v1",
        "wsPath": "/api/v1/ws",
        "tokenUrl": reverse("dashboard:token"),
        "csrfToken": get_token(request),  # for POST /dashboard/token
        **services.dashboard_token(user=request.user),
    }
    response = render(request, "dashboard/index.html",
                      {"config": config, "missing_assets": services.missing_assets()})
    response["Content-Security-Policy"] = _csp(request)
    return response


def _csrf_ok(request) -> bool:
    check = CsrfViewMiddleware(lambda _request: None)
    check.process_request(request)
    return check.process_view(request, None, (), {}) is None


@never_cache
@csrf_exempt  # checked below, so that a failure is answered in the error envelope, not as HTML
@require_http_methods(["POST"])
def token(request):
    """A fresh access token for the logged-in staff user (the page calls this before expiry)."""
    if not request.user.is_authenticated:
        return json_error(401, ErrorCode.UNAUTHORIZED, "Log in to the admin first.", request=request)
    if not (request.user.is_active and request.user.is_staff):
        return json_error(403, ErrorCode.FORBIDDEN, "The dashboard is for staff users.", request=request)
    if not _csrf_ok(request):
        return json_error(403, ErrorCode.FORBIDDEN, "CSRF token missing or incorrect.", request=request)
    body = envelope(services.dashboard_token(user=request.user), request)
    return HttpResponse(dumps(body), content_type="application/json")
