"""Input no database can hold is refused with a 4xx, the same on SQLite and PostgreSQL.

Found by schemathesis on PostgreSQL: a NUL character in a query parameter or a JSON body
was a DataError (500) there and accepted on SQLite; a page beyond 64 bits could not be
echoed in `pagination` (500)."""
from __future__ import annotations

import json

import pytest
from django.db import DataError
from django.urls import include, path
from rest_framework.views import APIView

from fedplane.api.pagination import MAX_PAGE
from fedplane.api.scopes import ALL_SCOPES
# This module is a root urlconf too (pytest.mark.urls), so it needs the error handlers.
from fedplane.urls import handler400, handler403, handler404, handler500  # noqa: F401

from .helpers import data_of, error_of

pytestmark = pytest.mark.django_db


class TooLong(APIView):
    def get(self, request):
        raise DataError("value too long for type character varying(64)\n")


urlpatterns = [path("api/v1/test/too-long", TooLong.as_view()), path("", include("fedplane.urls"))]


@pytest.fixture
def key(make_key):
    plaintext, _ = make_key(sorted(ALL_SCOPES))
    return {"HTTP_X_API_KEY": plaintext}


def _send(client, method, url, body, key):
    return getattr(client, method)(url, data=body, content_type="application/json", **key)


def test_a_nul_character_in_a_query_parameter_is_422(client, key):
    error = error_of(client.get("/api/v1/fl/metrics/system", {"nodeType": "cl\x00ient"}, **key), 422,
                     "VALIDATION_ERROR")
    assert error["details"] == {"nodeType": ["NUL is not allowed."]}
    data_of(client.get("/api/v1/fl/metrics/system", {"nodeType": "client"}, **key))


def test_a_nul_character_in_a_path_is_404_also_under_v2(client, key):
    error_of(client.get("/api/v1/regions/eu%00west", **key), 404, "NOT_FOUND")
    oip = client.get("/v2/models/m/versions/1%00", **key)
    assert oip.status_code == 404 and set(json.loads(oip.content)) == {"error"}


@pytest.mark.parametrize("body", [
    '{"config": {"a\\u0000b": 1}}',  # a key
    '{"config": {"nested": ["ok", "a\\u0000"]}}',  # a value, deep
    '{"config": {"lone": "\\ud800"}}',  # an unpaired surrogate: not UTF-8
])
def test_text_a_database_cannot_hold_in_a_json_body_is_422(client, key, body):
    data_of(_send(client, "post", "/api/v1/regions", {"name": "eu-west"}, key), 201)
    error = error_of(_send(client, "put", "/api/v1/regions/eu-west/config", body, key), 422, "VALIDATION_ERROR")
    assert list(error["details"]) == ["config"] or list(error["details"])[0].startswith("config.")
    data_of(_send(client, "put", "/api/v1/regions/eu-west/config", {"config": {"a": "\\u0000 as text"}}, key))


def test_a_page_beyond_64_bits_is_422_and_the_largest_is_an_empty_page(client, key):
    error = error_of(client.get("/api/v1/audit", {"page": str(2**64)}, **key), 422, "VALIDATION_ERROR")
    assert "page" in error["details"]
    assert data_of(client.get("/api/v1/audit", {"page": str(MAX_PAGE)}, **key))["pagination"]["page"] == MAX_PAGE


@pytest.mark.urls(__name__)
def test_a_value_the_database_refuses_is_422_not_500(client, key):
    error = error_of(client.get("/api/v1/test/too-long", **key), 422, "VALIDATION_ERROR")
    assert error["message"] == "A value cannot be stored: value too long for type character varying(64)"
