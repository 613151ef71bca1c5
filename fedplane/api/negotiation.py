"""Content negotiation with a shortcut for the usual JSON request.

DRF parses the Accept header into media-type objects and orders them by precedence on
every request (~40 us). Nearly every API call sends no Accept header, `*/*` or
`application/json`, for which the answer is always the first renderer when it is the JSON
one; anything else (another type, parameters, `?format=`) goes through DRF as before.
"""
from __future__ import annotations

from rest_framework.negotiation import DefaultContentNegotiation

__all__ = ["ContentNegotiation", "FormatIsTheViewsParameter"]

_PLAIN_JSON_ACCEPTS = frozenset({"", "*/*", "application/json"})


class ContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        if (not format_suffix and renderers and renderers[0].media_type == "application/json"
                and request.META.get("HTTP_ACCEPT", "").strip() in _PLAIN_JSON_ACCEPTS
                and self.settings.URL_FORMAT_OVERRIDE not in request.query_params):
            return renderers[0], "application/json"
        return super().select_renderer(request, renderers, format_suffix)


class FormatIsTheViewsParameter(DefaultContentNegotiation):
    """For a view whose `?format=` names something of its own (a model or dataset file format):
    DRF would read it as a renderer name and answer 404 for `onnx` or `csv`. Its first renderer answers."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
