"""What the dashboard page needs besides its template: a bearer token for the API and the
WebSocket (which accept no session), and whether the build step installed the chart libraries."""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.staticfiles import finders
from rest_framework_simplejwt.tokens import AccessToken

from fedplane.api.principals import user_scopes

__all__ = ["VENDOR_ASSETS", "dashboard_token", "missing_assets"]

# Copied from fedplane/dashboard/frontend/node_modules by scripts/setup.sh (npm ci).
VENDOR_ASSETS = ("dashboard/vendor/chart.umd.min.js", "dashboard/vendor/cytoscape.min.js")


def dashboard_token(*, user) -> dict:
    """A short-lived access token carrying the user's scopes, as POST /api/v1/auth/token issues,
    without a refresh token: the page asks /dashboard/token for a new one with its session."""
    lifetime = timedelta(seconds=settings.DASHBOARD_TOKEN_SECONDS)
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=lifetime)
    scopes = sorted(user_scopes(user))
    token["scopes"] = scopes
    return {"access": str(token), "tokenType": "Bearer", "expiresIn": int(lifetime.total_seconds()),
            "scopes": scopes}


def missing_assets() -> list[str]:
    """Vendor files the static finders cannot find (npm was absent when setup ran)."""
    return [path for path in VENDOR_ASSETS if finders.find(path) is None]
