"""The bodies of the inference endpoints, as plain functions: the DRF views (views.py, oip.py) and the
lean inference path (fastpath.py) both call these, so the two answer alike."""
from __future__ import annotations

from django.http import HttpResponse

from fedplane.api.errors import DomainError

from ..services import serving
from ..services.forwarding import ROUTED_HEADER
from ..services.oip import encode_infer, parse_infer
from ..services.routing import model_routes
from ..services.serving import run_tensor
from . import serializers as s

__all__ = ["HEADER_LENGTH", "oip_infer", "oip_route", "seed_predict"]

HEADER_LENGTH = "Inference-Header-Content-Length"


def _credentials(headers) -> dict[str, str]:
    """The caller's own credential, passed on when the request is forwarded to another region."""
    out = {}
    if headers.get("X-API-Key"):
        out["X-API-Key"] = headers["X-API-Key"]
    if headers.get("Authorization"):
        out["Authorization"] = headers["Authorization"]
    return out


def oip_route(name: str, version: str | None):
    """The route an OIP request for `name` (and `version`) is served by: this process's region when it
    holds the version, else any region's store it can read."""
    return model_routes(name, version=version)[0]


def seed_predict(*, model_id: str, data, headers) -> dict:
    """POST /api/v1/models/{model_id}/predict: the seed's answer for a parsed JSON body `data`."""
    payload = s.PredictSerializer(data=data)
    payload.is_valid(raise_exception=True)
    valid = payload.validated_data
    return serving.predict(model_name=model_id, inputs=valid["inputs"], parameters=valid["parameters"],
                           routed_to=headers.get(ROUTED_HEADER) or None, credentials=_credentials(headers))


def oip_infer(*, name: str, version: str | None, body: bytes, headers) -> HttpResponse:
    """POST /v2/models/{name}[/versions/{version}]/infer: JSON or binary tensors in, the same out."""
    raw_length = headers.get(HEADER_LENGTH)
    try:
        header_length = int(raw_length) if raw_length is not None else None
    except ValueError:
        raise DomainError(f"{HEADER_LENGTH} must be an integer.", code="INVALID_INPUT", status=400) from None
    route = oip_route(name, version)
    parsed = parse_infer(body, header_length)
    output, _, _ = run_tensor(route, parsed.tensor)
    encoded, json_length = encode_infer(model_name=name, version=route.version.version, request_id=parsed.id,
                                        output=output, output_name=parsed.output_name or "output",
                                        binary=parsed.binary_output)
    if json_length is None:
        return HttpResponse(encoded, content_type="application/json")
    response = HttpResponse(encoded, content_type="application/octet-stream")
    response[HEADER_LENGTH] = str(json_length)
    return response
