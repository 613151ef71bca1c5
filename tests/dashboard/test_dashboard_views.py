"""The dashboard page and its token endpoint through Django's test client: staff only, a working
bearer token in the page, renewal with the session (and CSRF), and the vendor assets served."""
from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from fedplane.api.authentication import authenticate_jwt
from fedplane.api.scopes import ALL_SCOPES, Scope

pytestmark = pytest.mark.django_db


def _config(response) -> dict:
    match = re.search(r'<script id="dashboard-config" type="application/json">(.*?)</script>',
                      response.content.decode())
    assert match, "config block in the page"
    return json.loads(match.group(1))


def test_anonymous_users_are_sent_to_the_admin_login(client):
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/dashboard/"


def test_non_staff_users_do_not_get_the_page(client, make_user):
    client.force_login(make_user([Scope.FL_METRICS_VIEW]))
    response = client.get("/dashboard/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert "access" not in response.content.decode()


def test_staff_page_carries_a_token_that_the_api_accepts(client, make_user, api):
    user = make_user(superuser=True)
    client.force_login(user)
    response = client.get("/dashboard/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    assert "connect-src 'self' ws://testserver" in response["Content-Security-Policy"]
    assert 'id="assets-missing"' not in response.content.decode()  # the build step ran
    config = _config(response)
    assert config["wsPath"] == "/api/v1/ws" and config["expiresIn"] == 300
    owner, token = authenticate_jwt(config["access"])
    assert owner == user and set(token.payload["scopes"]) == ALL_SCOPES
    listed = Client().get("/api/v1/fl/executions", HTTP_AUTHORIZATION=f"Bearer {config['access']}")
    assert listed.status_code == 200 and listed.json()["success"] is True


def test_staff_token_holds_only_the_users_scopes(client, make_user):
    user = make_user([Scope.FL_METRICS_VIEW])
    user.is_staff = True
    user.save()
    client.force_login(user)
    token = _config(client.get("/dashboard/"))["access"]
    assert authenticate_jwt(token)[1].payload["scopes"] == [Scope.FL_METRICS_VIEW]
    health = Client().get("/api/v1/health", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert health.status_code == 403 and health.json()["error"]["code"] == "FORBIDDEN"


def test_token_endpoint_renews_with_the_session_and_csrf(make_user):
    browser = Client(enforce_csrf_checks=True)
    anonymous = browser.post("/dashboard/token")
    assert anonymous.status_code == 401 and anonymous.json()["success"] is False

    user = make_user(superuser=True)
    browser.force_login(user)
    page = browser.get("/dashboard/")
    csrf = _config(page)["csrfToken"]
    refused = browser.post("/dashboard/token")  # no CSRF token
    assert refused.status_code == 403 and refused.json()["error"]["message"] == "CSRF token missing or incorrect."
    renewed = browser.post("/dashboard/token", HTTP_X_CSRFTOKEN=csrf)
    assert renewed.status_code == 200, renewed.content
    data = renewed.json()["data"]
    assert data["tokenType"] == "Bearer" and data["expiresIn"] == 300
    assert authenticate_jwt(data["access"])[0] == user
    assert browser.get("/dashboard/token").status_code == 405


def test_token_endpoint_refuses_anonymous_and_non_staff(client, make_user):
    anonymous = client.post("/dashboard/token")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "UNAUTHORIZED"
    client.force_login(make_user([Scope.FL_METRICS_VIEW]))
    refused = client.post("/dashboard/token")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("path", ["/static/dashboard/vendor/chart.umd.min.js",
                                  "/static/dashboard/vendor/cytoscape.min.js",
                                  "/static/dashboard/dashboard.js"])
def test_scripts_are_served_as_javascript(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert "javascript" in response["Content-Type"]
    assert len(b"".join(response.streaming_content if response.streaming else [response.content])) > 1000


def test_page_says_when_the_chart_libraries_were_not_built(client, make_user, settings):
    # What a machine without npm looks like: no static folder holds the vendor files.
    settings.STATICFILES_FINDERS = ["django.contrib.staticfiles.finders.FileSystemFinder"]
    settings.STATICFILES_DIRS = []
    client.force_login(make_user(superuser=True))
    page = client.get("/dashboard/").content.decode()
    assert 'id="assets-missing"' in page and "chart.umd.min.js" in page
    assert "vendor/chart.umd.min.js\"></script>" not in page
