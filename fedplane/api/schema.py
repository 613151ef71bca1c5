"""fedplane's OpenAPI schema: what the server really sends, for every operation.

drf-spectacular describes a view's data; every /api/v1 response is sent inside the
envelope (envelope.py, pagination.py, errors.py), so:

- `EnvelopeAutoSchema` wraps each success body the envelope renderer sends in
  `{"success", "data", "meta"}` and adds the error statuses an operation can answer, each
  with the error envelope (`{"error": ...}` on the Open Inference Protocol's /v2 paths);
- `postprocess` gives paginated lists their whole envelope, documents the SSE stream (a
  plain async view spectacular cannot see), and fixes what spectacular generates wrongly;
- the authentication extensions describe our credentials (spectacular cannot guess them).
"""
from __future__ import annotations

import copy

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter

__all__ = ["ApiKeyScheme", "ScopedJWTScheme", "EnvelopeAutoSchema", "postprocess", "COMPONENTS"]

API_PREFIX = "/api/v1/"
OIP_PREFIX = "/v2"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# fedplane/api/idempotency.py: every POST under /api/v1 whose view does not opt out.
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key", {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    OpenApiParameter.HEADER, description=(
        "Makes the POST safe to retry: a retry with the same key and body gets the first answer again "
        "(marked `Idempotent-Replayed: true`) and writes nothing; the same key with another body is 409 "
        "IDEMPOTENCY_KEY_REUSED, and while the first request runs 409 IDEMPOTENCY_KEY_IN_PROGRESS. "
        "Keys are per caller and kept 24 hours."))


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


COMPONENTS: dict[str, dict] = {
    "ResponseMeta": {
        "type": "object",
        "properties": {
            "timestamp": {"type": "string", "format": "date-time"},
            "version": {"type": "string"},
            "requestId": {"type": "string", "nullable": True},
        },
        "required": ["timestamp", "version", "requestId"],
    },
    "Pagination": {
        "type": "object",
        "properties": {
            "page": {"type": "integer", "minimum": 1},
            "limit": {"type": "integer", "minimum": 1},
            "total": {"type": "integer", "minimum": 0},
            "hasNext": {"type": "boolean"},
            "hasPrev": {"type": "boolean"},
        },
        "required": ["page", "limit", "total", "hasNext", "hasPrev"],
    },
    "ErrorEnvelope": {
        "type": "object",
        "description": "Every refused or failed /api/v1 request. `code` is a seed code (MF001..MF008, "
                       "FL001..FL008) or a generic one (VALIDATION_ERROR, NOT_FOUND, UNAUTHORIZED, "
                       "FORBIDDEN, CONFLICT, RATE_LIMITED, SERVICE_UNAVAILABLE, ...); `details` says "
                       "more (the invalid fields of a VALIDATION_ERROR, or of an FL002/FL006/FL007 that "
                       "refuses an execution's config).",
        "properties": {
            "success": {"type": "boolean", "enum": [False]},
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "details": {},
                    "timestamp": {"type": "string", "format": "date-time"},
                },
                "required": ["code", "message", "details", "timestamp"],
            },
        },
        "required": ["success", "error"],
    },
    "OipError": {
        "type": "object",
        "description": "An Open Inference Protocol error: the protocol's own body, not the envelope.",
        "properties": {"error": {"type": "string"}},
        "required": ["error"],
    },
}

_ERROR_DESCRIPTIONS = {
    400: "The body is not valid JSON, or a request the domain refuses as malformed.",
    401: "No credential, or an invalid or expired one (API key in X-API-Key, or a bearer JWT).",
    403: "The credential lacks the scope this operation needs, or the action is not allowed.",
    404: "Nothing with this id.",
    409: "Conflicts with the current state (a duplicate, or a transition its state does not allow).",
    413: "The body exceeds the server's limit.",
    415: "The body's media type is not one this operation reads.",
    422: "Well-formed, but invalid: `details` names each invalid field or parameter.",
    429: "Over a rate limit of this credential; Retry-After says when to try again.",
    503: "A dependency (database, Redis, broker, a Flower SuperLink, a region) cannot be reached now; "
         "retry later (Retry-After).",
}


def envelope_of(data_schema: dict) -> dict:
    """The success envelope around `data_schema`."""
    return {
        "type": "object",
        "properties": {"success": {"type": "boolean", "enum": [True]}, "data": data_schema,
                       "meta": _ref("ResponseMeta")},
        "required": ["success", "data", "meta"],
    }


def paginated_envelope_of(list_schema: dict) -> dict:
    return {
        "type": "object",
        "properties": {"success": {"type": "boolean", "enum": [True]}, "data": list_schema,
                       "pagination": _ref("Pagination"), "meta": _ref("ResponseMeta")},
        "required": ["success", "data", "pagination", "meta"],
    }


def _is_paginated(schema: dict) -> bool:
    ref = schema.get("$ref", "")
    return ref.rsplit("/", 1)[-1].startswith("Paginated") or "pagination" in schema.get("properties", {})


def error_response(status: int, schema_name: str = "ErrorEnvelope") -> dict:
    response = {"description": _ERROR_DESCRIPTIONS.get(status, "Refused."),
                "content": {"application/json": {"schema": _ref(schema_name)}}}
    if status in (429, 503):
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"},
                                               "description": "Seconds to wait before trying again."}}
    return response


class EnvelopeAutoSchema(AutoSchema):
    """AutoSchema that documents the envelope and each operation's error statuses.

    Errors come from what the operation is: a credential it checks (401/403), a rate limit
    (429), a body (400/413/415/422), query parameters (422), header parameters (400), an id in
    the path or the body of a write (404), a write (409), and the database and services behind
    every call (503). A view adds the statuses only it answers with
    `extend_schema(extensions={"x-error-statuses": [...]})`.
    """

    def _enveloped(self) -> bool:
        return self.path.startswith(API_PREFIX)

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if self.method == "POST" and self._enveloped() and getattr(self.view, "idempotent", True):
            parameters = [*parameters, IDEMPOTENCY_KEY]
        return parameters

    def _get_response_for_code(self, serializer, status_code, media_types=None, direction="response"):
        response = super()._get_response_for_code(serializer, status_code, media_types, direction)
        # A media type named by the view is a raw body it builds itself (a file, a CSV, OIP);
        # the renderer's own JSON is what gets the envelope.
        if media_types is None and self._enveloped() and str(status_code).startswith("2"):
            for content in response.get("content", {}).values():
                schema = content.get("schema")
                if schema is not None and not _is_paginated(schema):
                    content["schema"] = envelope_of(schema)
        return response

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        extra = operation.pop("x-error-statuses", [])
        responses = operation["responses"]
        for code, response in list(responses.items()):
            if code.startswith("2") and "content" not in response and code != "204" and self._enveloped():
                # Nothing documented: the renderer still sends the envelope, its data null.
                response["content"] = {"application/json": {"schema": envelope_of({"nullable": True})}}
        schema_name = "OipError" if path.startswith(OIP_PREFIX) else "ErrorEnvelope"
        for status in sorted(self._error_statuses(operation) | set(extra)):
            responses.setdefault(str(status), error_response(status, schema_name))
        return operation

    def _error_statuses(self, operation: dict) -> set[int]:
        security = operation.get("security") or []
        authenticated = bool(security) and {} not in security
        parameters = operation.get("parameters", [])
        statuses: set[int] = set()
        if authenticated:
            statuses |= {401, 403, 503}
            if getattr(self.view, "throttle_classes", None):
                statuses.add(429)
        elif self._enveloped():
            statuses.add(503)  # public, but still reads the database (token issue)
        if "requestBody" in operation:
            statuses |= {400, 413, 415, 422}
        if any(p["in"] == "query" for p in parameters):
            statuses.add(422)
        if any(p["in"] == "header" for p in parameters):
            statuses.add(400)  # a malformed header (Idempotency-Key)
        if any(p["in"] == "path" for p in parameters):
            statuses.add(404)
        if authenticated and self.method in WRITE_METHODS:
            statuses.add(409)
            if "requestBody" in operation:
                statuses.add(404)  # the body names another resource (a model, a region, an execution)
        return statuses


def _fix_blank_alternatives(node) -> None:
    """spectacular documents a field that may also be blank (URLField(allow_blank=True)) as
    `oneOf: [{format: uri}, {maxLength: 0}]`; "" matches both branches, which `oneOf` forbids."""
    if isinstance(node, dict):
        branches = node.get("oneOf")
        if isinstance(branches, list) and any(b.get("maxLength") == 0 for b in branches if isinstance(b, dict)):
            node["anyOf"] = node.pop("oneOf")
        for value in node.values():
            _fix_blank_alternatives(value)
    elif isinstance(node, list):
        for value in node:
            _fix_blank_alternatives(value)


EVENT_STREAM_PATH = "/api/v1/integration/events/stream"
# One event of the stream (keep-alive comments and the `retry:` line are not events).
_SSE_EVENT = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "description": "the event's id, for Last-Event-ID"},
        "event": {"type": "string", "description": "its type: execution.started, module.loaded, ..."},
        "data": {"type": "string", "description": "the event as JSON, as GET /integration/events/{id} "
                                                  "gives it: {id, event, system, severity, timestamp, data, "
                                                  "requestId}"},
    },
    "required": ["id", "event", "data"],
}


def _event_stream_operation() -> dict:
    listed = {"type": "string", "description": "Comma-separated, or the parameter repeated."}
    return {
        "get": {
            "operationId": "integration_events_stream",
            "summary": "Server-Sent Events: every committed event, live",
            "description": "An event stream held open (a keep-alive comment every 15 s). Each event is "
                           "`id: <event id>`, `event: <type>`, `data: <the event as JSON>`. A client that "
                           "reconnects sends Last-Event-ID (browsers do) or `lastEventId` and first receives "
                           "what it missed, in commit order.",
            "tags": ["integration"],
            "parameters": [
                {"name": "types", "in": "query", "schema": listed, "description": "Event types to receive."},
                {"name": "systems", "in": "query", "schema": listed,
                 "description": "Systems to receive events of: fl, federation, regions, integration, platform."},
                {"name": "lastEventId", "in": "query", "schema": {"type": "integer"},
                 "description": "Resume after this event id (the Last-Event-ID header wins)."},
                {"name": "Last-Event-ID", "in": "header", "schema": {"type": "integer"},
                 "description": "Resume after this event id."},
            ],
            "security": [{"apiKeyAuth": []}, {"jwtAuth": []}],
            "responses": {
                "200": {"description": "The event stream.",
                        "content": {"text/event-stream": {"schema": _SSE_EVENT}}},
                "401": error_response(401),
                "422": error_response(422),
                "503": error_response(503),
            },
        }
    }


def postprocess(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"])."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in COMPONENTS.items():
        schemas.setdefault(name, copy.deepcopy(schema))
    for name, schema in schemas.items():
        if name.startswith("Paginated") and "pagination" in schema.get("properties", {}):
            schemas[name] = paginated_envelope_of(schema["properties"]["data"])
    for item in result.get("paths", {}).values():
        for operation in item.values():
            for content in operation.get("responses", {}).get("200", {}).get("content", {}).values():
                schema = content.get("schema", {})
                if "pagination" in schema.get("properties", {}):  # inline: a paginator without a serializer
                    content["schema"] = paginated_envelope_of(schema["properties"]["data"])
    result["paths"].setdefault(EVENT_STREAM_PATH, _event_stream_operation())
    _fix_blank_alternatives(result)
    return result


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "fedplane.api.authentication.ApiKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "X-API-Key"}


class ScopedJWTScheme(SimpleJWTScheme):
    target_class = "fedplane.api.authentication.ScopedJWTAuthentication"
