"""/api/schema/ serves a valid OpenAPI 3 document that documents every REST endpoint
and the credentials they take; /api/docs/ is the interactive page."""
from __future__ import annotations

import json
import re

import pytest
from django.urls import Resolver404, resolve
from openapi_spec_validator import validate

from fedplane.api.scopes import Scope

from .routes import DUMMIES, endpoints

pytestmark = pytest.mark.django_db


@pytest.fixture
def caller(make_key):
    plaintext, _ = make_key([Scope.FL_METRICS_VIEW])
    return {"HTTP_X_API_KEY": plaintext}


@pytest.fixture
def schema(client, caller) -> dict:
    response = client.get("/api/schema/", {"format": "json"}, **caller)
    assert response.status_code == 200, response.content[:300]
    return json.loads(response.content)


def test_the_schema_validates_as_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    validate(schema)


def test_the_schema_is_served_as_json_by_accept_header(client, caller):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json", **caller)
    assert response.status_code == 200
    validate(json.loads(response.content))


def _view_of(template: str):
    for dummy in DUMMIES:
        try:
            return resolve(re.sub(r"\{[^}]+\}", dummy, template)).func
        except Resolver404:
            continue
    return None


def test_every_rest_endpoint_is_documented(schema):
    documented = {_view_of(path) for path in schema["paths"]}
    rest = {path: callback for path, callback in endpoints() if path.startswith("/api/v1/")
            and getattr(callback, "cls", None) is not None}  # DRF views; the SSE stream is not REST
    missing = sorted(path for path, callback in rest.items() if callback not in documented)
    assert not missing, f"endpoints absent from /api/schema/: {missing}"


def test_the_schema_documents_query_parameters_and_credentials(schema):
    audit_parameters = {p["name"] for p in schema["paths"]["/api/v1/audit"]["get"]["parameters"]}
    assert {"page", "limit", "sort", "search", "outcome", "from", "to"} <= audit_parameters
    schemes = schema["components"]["securitySchemes"]
    assert {"type": "apiKey", "in": "header", "name": "X-API-Key"} in schemes.values()
    assert any(s.get("scheme") == "bearer" and s.get("bearerFormat") == "JWT" for s in schemes.values())
    assert schema["paths"]["/api/v1/audit"]["get"]["security"]


def test_the_docs_page_renders_for_a_signed_in_caller(client, caller):
    response = client.get("/api/docs/", **caller)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html") and b"swagger" in response.content.lower()
    # Nothing inline for the CSP to refuse (tests/dashboard/test_pages_browser.py renders it in Chromium).
    assert b"<style" not in response.content and b"<script>" not in response.content
    script = client.get("/api/docs/?script=", **caller)
    assert script.status_code == 200 and script.headers["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle(" in script.content


def test_the_schema_documents_the_envelopes_and_the_event_stream(schema):
    """What the server sends: data inside the success envelope, lists with their pagination,
    errors in the error envelope, and the SSE stream that is not a DRF view."""
    components = schema["components"]["schemas"]
    region = schema["paths"]["/api/v1/regions/{name}"]["get"]["responses"]
    wrapped = region["200"]["content"]["application/json"]["schema"]
    assert wrapped["required"] == ["success", "data", "meta"]
    assert wrapped["properties"]["data"] == {"$ref": "#/components/schemas/Region"}
    assert {"401", "403", "404", "429", "503"} <= set(region)
    assert region["404"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorEnvelope"}
    assert components["ErrorEnvelope"]["properties"]["error"]["required"] == ["code", "message", "details",
                                                                              "timestamp"]
    listed = schema["paths"]["/api/v1/audit"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    page = components[listed["$ref"].rsplit("/", 1)[-1]]
    assert set(page["required"]) == {"success", "data", "pagination", "meta"}
    body = schema["paths"]["/api/v1/regions"]["post"]["responses"]
    assert {"400", "409", "415", "422"} <= set(body)
    oip = schema["paths"]["/v2/models/{name}"]["get"]["responses"]["404"]
    assert oip["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/OipError"}
    stream = schema["paths"]["/api/v1/integration/events/stream"]["get"]
    assert "text/event-stream" in stream["responses"]["200"]["content"]
    assert {"types", "systems", "lastEventId"} <= {p["name"] for p in stream["parameters"]}


def test_views_that_build_their_body_document_its_shape_and_parameters(schema):
    """Views whose body is a service's dict document that shape, not their viewset's resource."""
    def data_of(path, method="get", status="200"):
        content = schema["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
        return content["properties"]["data"]["$ref"].rsplit("/", 1)[-1]

    assert data_of("/api/v1/federation/modules/graph") == "ModuleGraph"
    assert data_of("/api/v1/federation/dependencies/resolve", "post") == "Resolution"
    assert data_of("/api/v1/fl/clients/{id}/metrics") == "ClientMetrics"
    assert data_of("/api/v1/fl/aggregation/{execution_pk}/status") == "AggregationStatus"
    assert data_of("/api/v1/fl/aggregation/{execution_pk}/trigger", "post", "202") == "AggregationTriggered"
    assert data_of("/api/v1/fl/runtime") == "FlowerConnection"
    training = {p["name"]: p for p in schema["paths"]["/api/v1/fl/metrics/training"]["get"]["parameters"]}
    assert training["executionId"]["required"] is True
