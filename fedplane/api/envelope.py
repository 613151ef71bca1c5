"""The response envelope: {"success", "data", "meta"} rendered with orjson."""
from __future__ import annotations

import decimal
from typing import Any

import orjson
from django.conf import settings
from django.utils import timezone
from rest_framework.renderers import BaseRenderer

__all__ = ["EnvelopeJSONRenderer", "envelope", "meta_for", "dumps"]


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return str(value)


def dumps(payload: Any) -> bytes:
    return orjson.dumps(payload, default=_default, option=orjson.OPT_NON_STR_KEYS)


def meta_for(request) -> dict:
    return {
        "timestamp": timezone.now().isoformat().replace("+00:00", "Z"),
        "version": settings.FEDPLANE_VERSION,
        "requestId": getattr(request, "request_id", None),
    }


def envelope(data: Any, request) -> dict:
    return {"success": True, "data": data, "meta": meta_for(request)}


class EnvelopeJSONRenderer(BaseRenderer):
    """Wraps a view's data in the success envelope unless it is one already.

    Error bodies (built by the exception handler) and paginated bodies (built by
    the paginator) carry `success` themselves; they only get `meta` added.
    """

    media_type = "application/json"
    format = "json"
    charset = None

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: dict | None = None) -> bytes:
        context = renderer_context or {}
        response = context.get("response")
        request = context.get("request")
        if response is not None and response.status_code == 204:
            return b""
        if isinstance(data, dict) and "success" in data:
            if data["success"] and "meta" not in data:
                data["meta"] = meta_for(request)
            return dumps(data)
        return dumps(envelope(data, request))
