"""The inference routes on the lean path (fedplane/api/lean.py): OIP v2 infer and the seed's predict.

Each stands for its DRF view (its scopes, throttle bucket and audit flag are read from it) and
calls the same function as that view (inference.py); only the parsing and rendering DRF would
do is done here, as DRF does it for these views.
"""
from __future__ import annotations

import io
import re

from django.http import HttpResponse

from fedplane.api.envelope import dumps, envelope
from fedplane.api.lean import LeanRoute
from fedplane.api.parsers import JSONParser

from .inference import oip_infer, seed_predict
from .oip import InferView, oip_error
from .views import PredictView

__all__ = ["ROUTES"]

_SLUG = r"[-a-zA-Z0-9_]+"  # Django's <slug:...>; <str:...> is [^/]+


def _infer(request, body: bytes, kwargs: dict) -> HttpResponse:
    return oip_infer(name=kwargs["name"], version=kwargs.get("version"), body=body, headers=request.headers)


def _predict(request, body: bytes, kwargs: dict) -> HttpResponse:
    # DRF: an empty body is no data; else the JSON parser of the API (its errors: 400 INVALID_JSON, 422).
    data = JSONParser().parse(io.BytesIO(body), "application/json", {"encoding": "utf-8"}) if body else {}
    result = seed_predict(model_id=kwargs["model_id"], data=data, headers=request.headers)
    return HttpResponse(dumps(envelope(result, request)), content_type="application/json")


ROUTES = [
    LeanRoute(re.compile(rf"/v2/models/(?P<name>{_SLUG})/infer"), "oip-infer", InferView, _infer, oip_error),
    LeanRoute(re.compile(rf"/v2/models/(?P<name>{_SLUG})/versions/(?P<version>[^/]+)/infer"), "oip-version-infer",
              InferView, _infer, oip_error),
    LeanRoute(re.compile(rf"/api/v1/models/(?P<model_id>{_SLUG})/predict"), "regions-predict", PredictView,
              _predict, json_body=True),
]
