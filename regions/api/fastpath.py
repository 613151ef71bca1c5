"""The inference routes on the lean path (fedplane/api/lean.py): OIP v2 infer and the seed's predict.

Each stands for its DRF view (its scopes, throttle bucket and audit flag are read from it) and
calls the same function as that view (inference.py); only the parsing and rendering DRF would
do is done here, as DRF does it for these views.
"""
from __future__ import annotations

import io
import re

from django.http import HttpResponse
from django.urls import get_resolver, resolve, reverse

from fedplane.api.envelope import dumps, envelope
from fedplane.api.lean import LeanRoute, ScopeHeaders
from fedplane.api.parsers import JSONParser

from ..services.forwarding import ROUTED_HEADER
from ..services.serving import runs_inline
from .inference import oip_infer, oip_queue, seed_predict, seed_queue
from .oip import oip_error

__all__ = ["ROUTES"]


def _infer(request, body: bytes, kwargs: dict) -> HttpResponse:
    return oip_infer(name=kwargs["name"], version=kwargs.get("version"), body=body,
                     headers=request.headers, queued=request.lean_queued)


def _infer_queue(scope, kwargs: dict, body: bytes):
    queued = oip_queue(name=kwargs["name"], version=kwargs.get("version"), body=body, headers=ScopeHeaders(scope))
    return (queued, queued.submitted.future) if queued is not None else None


def _predict_data(body: bytes):
    # DRF: an empty body is no data; else the JSON parser of the API (its errors: 400 INVALID_JSON, 422).
    return JSONParser().parse(io.BytesIO(body), "application/json", {"encoding": "utf-8"}) if body else {}


def _predict(request, body: bytes, kwargs: dict) -> HttpResponse:
    queued = request.lean_queued
    data = None if queued is not None else _predict_data(body)
    result = seed_predict(model_id=kwargs["model_id"], data=data, headers=request.headers,
                          queued=queued)
    return HttpResponse(dumps(envelope(result, request)), content_type="application/json")


def _infer_inline(scope, kwargs: dict, body: bytes, max_seconds: float) -> bool:
    return runs_inline(kwargs["name"], kwargs.get("version"), max_seconds)


_ROUTED = ROUTED_HEADER.lower().encode()
# Parameters that may pick another version or wait on a timer: such a body takes a request thread.
_WAITING_PARAMETERS = (b'"version"', b'"timeout_ms"')


def _predict_inline(scope, kwargs: dict, body: bytes, max_seconds: float) -> bool:
    if any(name == _ROUTED for name, _ in scope["headers"]) or any(p in body for p in _WAITING_PARAMETERS):
        return False
    return runs_inline(kwargs["model_id"], None, max_seconds)


def _predict_queue(scope, kwargs: dict, body: bytes):
    if any(name == _ROUTED for name, _ in scope["headers"]):
        return None
    try:
        data = _predict_data(body)
    except Exception:  # noqa: BLE001  a body the parser refuses: the usual path answers it
        return None
    queued = seed_queue(model_id=kwargs["model_id"], data=data)
    return (queued, queued.future) if queued is not None else None


def _route(url_name: str, serve, **options) -> LeanRoute:
    """The lean route of Django's route `url_name`: its path pattern (converters and all) and view, read
    from the URLconf once, so the two cannot drift apart."""
    [(_, regex, _, _)] = get_resolver().reverse_dict.getlist(url_name)
    pattern = re.compile("/" + regex.removeprefix("^"))
    view = resolve(reverse(url_name, kwargs=dict.fromkeys(pattern.groupindex, "x"))).func.view_class
    return LeanRoute(pattern, url_name, view, serve, **options)


ROUTES = [
    _route("oip-infer", _infer, render_error=oip_error, inline=_infer_inline, queue=_infer_queue),
    _route("oip-version-infer", _infer, render_error=oip_error, inline=_infer_inline, queue=_infer_queue),
    _route("regions-predict", _predict, json_body=True, inline=_predict_inline, queue=_predict_queue),
]
