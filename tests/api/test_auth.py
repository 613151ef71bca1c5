"""Credentials and scopes: API keys (hashed, scoped, expiring, rotatable) and JWTs."""
from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from django.db import connection
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from fedplane.api.models import ApiKey
from fedplane.api.scopes import Scope

from .helpers import data_of, error_of

pytestmark = pytest.mark.django_db

AUDIT = "/api/v1/audit"
PASSWORD = "pw-for-tests-1"


def _bearer(token) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def _obtain(client, username: str, scopes=None):
    body = {"username": username, "password": PASSWORD, **({"scopes": scopes} if scopes is not None else {})}
    return client.post("/api/v1/auth/token", body, content_type="application/json")


def test_a_key_without_the_required_scope_gets_403_and_with_it_200(client, make_key):
    without, _ = make_key([Scope.FL_METRICS_VIEW])
    with_scope, _ = make_key([Scope.ADMIN_AUDIT_VIEW])
    error = error_of(client.get(AUDIT, HTTP_X_API_KEY=without), 403, "FORBIDDEN")
    assert Scope.ADMIN_AUDIT_VIEW in error["message"]
    data_of(client.get(AUDIT, HTTP_X_API_KEY=with_scope))


def test_a_key_holds_only_the_scopes_it_was_given_not_all_of_its_owners(client, make_user, make_key):
    owner = make_user([Scope.ADMIN_AUDIT_VIEW, Scope.FL_METRICS_VIEW])
    narrow, _ = make_key([Scope.FL_METRICS_VIEW], user=owner)
    error_of(client.get(AUDIT, HTTP_X_API_KEY=narrow), 403, "FORBIDDEN")


def test_an_expired_jwt_gets_401_while_a_fresh_one_works(client, make_user):
    user = make_user([Scope.ADMIN_AUDIT_VIEW])
    fresh = AccessToken.for_user(user)
    fresh["scopes"] = [Scope.ADMIN_AUDIT_VIEW]
    expired = AccessToken.for_user(user)
    expired["scopes"] = [Scope.ADMIN_AUDIT_VIEW]
    expired.set_exp(from_time=timezone.now() - timedelta(hours=1))  # expired 45 minutes ago
    data_of(client.get(AUDIT, **_bearer(fresh)))
    response = client.get(AUDIT, **_bearer(expired))
    error_of(response, 401, "UNAUTHORIZED")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_forged_or_garbled_credential_gets_401(client, make_key):
    plaintext, key = make_key([Scope.ADMIN_AUDIT_VIEW])
    prefix, _, secret = plaintext.partition(".")
    error_of(client.get(AUDIT, HTTP_X_API_KEY=f"{prefix}.{secret[::-1]}"), 401, "UNAUTHORIZED")
    error_of(client.get(AUDIT, HTTP_X_API_KEY="no-such-key"), 401, "UNAUTHORIZED")
    error_of(client.get(AUDIT, **_bearer("not.a.jwt")), 401, "UNAUTHORIZED")
    forged = jwt.encode({**AccessToken.for_user(key.user).payload, "scopes": list(Scope.values)},
                        "a-signing-key-that-is-not-ours-" * 2, algorithm="HS256")
    error_of(client.get(AUDIT, **_bearer(forged)), 401, "UNAUTHORIZED")


def test_jwt_pair_lifetimes_are_15_minutes_and_7_days(client, make_user):
    user = make_user()
    data = data_of(_obtain(client, user.username))["data"]
    assert data["tokenType"] == "Bearer" and data["expiresIn"] == 15 * 60
    access, refresh = AccessToken(data["access"]), RefreshToken(data["refresh"])
    assert access["exp"] - access["iat"] == 15 * 60
    assert refresh["exp"] - refresh["iat"] == 7 * 24 * 3600


def test_the_jwt_scopes_claim_is_honoured_and_survives_refresh(client, make_user):
    user = make_user([Scope.ADMIN_AUDIT_VIEW, Scope.FL_METRICS_VIEW])
    full = data_of(_obtain(client, user.username))["data"]
    assert full["scopes"] == sorted([Scope.ADMIN_AUDIT_VIEW, Scope.FL_METRICS_VIEW])
    data_of(client.get(AUDIT, **_bearer(full["access"])))

    narrowed = data_of(_obtain(client, user.username, [Scope.FL_METRICS_VIEW]))["data"]
    assert AccessToken(narrowed["access"])["scopes"] == [Scope.FL_METRICS_VIEW]
    me = data_of(client.get("/api/v1/auth/me", **_bearer(narrowed["access"])))["data"]
    assert me == {"username": user.username, "scopes": [Scope.FL_METRICS_VIEW], "authMethod": "jwt"}
    error_of(client.get(AUDIT, **_bearer(narrowed["access"])), 403, "FORBIDDEN")

    refreshed = data_of(client.post("/api/v1/auth/token/refresh", {"refresh": narrowed["refresh"]},
                                    content_type="application/json"))["data"]
    error_of(client.get(AUDIT, **_bearer(refreshed["access"])), 403, "FORBIDDEN")


def test_a_token_cannot_ask_for_scopes_its_user_lacks(client, make_user):
    user = make_user([Scope.FL_METRICS_VIEW])
    error = error_of(_obtain(client, user.username, [Scope.ADMIN_AUDIT_VIEW]), 422, "VALIDATION_ERROR")
    assert "scopes" in error["details"]


def test_a_revoked_key_gets_401(client, make_key):
    plaintext, key = make_key([Scope.ADMIN_AUDIT_VIEW])
    data_of(client.get(AUDIT, HTTP_X_API_KEY=plaintext))
    revoked = data_of(client.post(f"/api/v1/auth/api-keys/{key.prefix}/revoke", HTTP_X_API_KEY=plaintext))
    assert revoked["data"]["revoked"] is True
    error_of(client.get(AUDIT, HTTP_X_API_KEY=plaintext), 401, "UNAUTHORIZED")


def test_rotation_retires_the_old_key_and_the_new_one_works(client, make_key):
    old, key = make_key([Scope.ADMIN_AUDIT_VIEW])
    rotated = data_of(client.post(f"/api/v1/auth/api-keys/{key.prefix}/rotate", HTTP_X_API_KEY=old), 201)["data"]
    new = rotated["key"]
    assert new != old and rotated["rotatedFrom"] == key.prefix == old.partition(".")[0]
    assert rotated["scopes"] == [Scope.ADMIN_AUDIT_VIEW] and rotated["revoked"] is False
    error_of(client.get(AUDIT, HTTP_X_API_KEY=old), 401, "UNAUTHORIZED")
    data_of(client.get(AUDIT, HTTP_X_API_KEY=new))
    listed = data_of(client.get("/api/v1/auth/api-keys", HTTP_X_API_KEY=new))["data"]
    assert {(k["id"], k["revoked"]) for k in listed} == {(key.prefix, True), (rotated["id"], False)}
    assert all("key" not in k for k in listed), "the plaintext is shown once, at creation or rotation"


def test_a_key_is_stored_hashed(client, make_key):
    owner_key, _ = make_key([Scope.FL_METRICS_VIEW])
    response = client.post("/api/v1/auth/api-keys", {"name": "ci", "scopes": [Scope.FL_METRICS_VIEW]},
                           content_type="application/json", HTTP_X_API_KEY=owner_key)
    created = data_of(response, 201)["data"]
    plaintext = created["key"]
    secret = plaintext.partition(".")[2]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ApiKey._meta.db_table} WHERE prefix = %s", [created["id"]])
        row = cursor.fetchone()
    assert row is not None
    stored = " ".join(str(value) for value in row)
    assert plaintext not in stored and secret not in stored
    data_of(client.get("/api/v1/auth/me", HTTP_X_API_KEY=plaintext))


def test_keys_expire_after_90_days_by_default(client, make_key):
    owner_key, _ = make_key([Scope.FL_METRICS_VIEW])
    before = timezone.now()
    response = client.post("/api/v1/auth/api-keys", {"name": "ci", "scopes": [Scope.FL_METRICS_VIEW]},
                           content_type="application/json", HTTP_X_API_KEY=owner_key)
    created = data_of(response, 201)["data"]
    expires = ApiKey.objects.get(prefix=created["id"]).expiry_date
    assert before + timedelta(days=90) <= expires <= timezone.now() + timedelta(days=90)
    assert created["expiresAt"].startswith(expires.date().isoformat())

    # Day 91: the same key is refused.
    ApiKey.objects.filter(prefix=created["id"]).update(expiry_date=timezone.now() - timedelta(seconds=1))
    error = error_of(client.get("/api/v1/auth/me", HTTP_X_API_KEY=created["key"]), 401, "UNAUTHORIZED")
    assert "expired" in error["message"]
