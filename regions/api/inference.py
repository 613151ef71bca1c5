"""The bodies of the inference endpoints, as plain functions: the DRF views (views.py, oip.py) and the
lean inference path (fastpath.py) both call these, so the two answer alike."""
from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpResponse

from fedplane.api.errors import DomainError

from ..services import serving
from ..services.forwarding import ROUTED_HEADER
from ..services.oip import InferRequest, encode_infer, parse_infer
from ..services.routing import model_routes
from ..services.serving import Submitted, run_tensor, submit_to_batch
from . import serializers as s

__all__ = ["HEADER_LENGTH", "QueuedInfer", "QueuedPredict", "oip_infer", "oip_queue", "oip_route", "seed_predict",
           "seed_queue"]

HEADER_LENGTH = "Inference-Header-Content-Length"


def _credentials(headers) -> dict[str, str]:
    """The caller's own credential, passed on when the request is forwarded to another region."""
    out = {}
    for name in ("X-API-Key", "Authorization"):
        value = headers.get(name)
        if value:
            out[name] = value
    return out


def oip_route(name: str, version: str | None):
    """The route an OIP request for `name` (and `version`) is served by: this process's region when it
    holds the version, else any region's store it can read."""
    return model_routes(name, version=version)[0]


@dataclass(frozen=True)
class QueuedPredict:
    """A seed predict validated and queued in its model's batch before its answer is made (lean path)."""

    queued: tuple
    future: object


def seed_queue(*, model_id: str, data) -> QueuedPredict | None:
    """Validate a parsed predict body and queue it in its model's batch, from the caches alone; None
    when that is not how it is answered (parameters ask for a version, a timeout or a split; not
    cached; batching off) or the body is bad (the usual path answers it, with its error)."""
    payload = s.PredictSerializer(data=data)
    if not payload.is_valid() or payload.validated_data["parameters"]:
        return None
    queued = serving.predict_queue(model_id, payload.validated_data["inputs"])
    return QueuedPredict(queued, queued[1].future) if queued is not None else None


def seed_predict(*, model_id: str, data, headers, queued: QueuedPredict | None = None) -> dict:
    """POST /api/v1/models/{model_id}/predict: the seed's answer for a parsed JSON body `data`."""
    if queued is not None:
        return serving.predict_queued(queued.queued)
    payload = s.PredictSerializer(data=data)
    payload.is_valid(raise_exception=True)
    valid = payload.validated_data
    return serving.predict(model_name=model_id, inputs=valid["inputs"], parameters=valid["parameters"],
                           routed_to=headers.get(ROUTED_HEADER) or None, credentials=_credentials(headers))


@dataclass(frozen=True)
class QueuedInfer:
    """An OIP request parsed and queued in its model's batch before its answer is made (lean path)."""

    parsed: InferRequest
    submitted: Submitted


def _header_length(headers) -> int | None:
    raw_length = headers.get(HEADER_LENGTH)
    try:
        return int(raw_length) if raw_length is not None else None
    except ValueError:
        raise DomainError(f"{HEADER_LENGTH} must be an integer.", code="INVALID_INPUT", status=400) from None


def oip_queue(*, name: str, version: str | None, body: bytes, headers) -> QueuedInfer | None:
    """Parse an OIP request and queue it in its model's batch, from the caches alone; None when that
    is not how it is answered (see `serving.submit_to_batch`), or the request is bad (the usual path
    answers it, with its error)."""
    try:
        parsed = parse_infer(body, _header_length(headers))
    except DomainError:
        return None
    submitted = submit_to_batch(name, version, parsed.tensor)
    return QueuedInfer(parsed, submitted) if submitted is not None else None


def oip_infer(*, name: str, version: str | None, body: bytes, headers,
              queued: QueuedInfer | None = None) -> HttpResponse:
    """POST /v2/models/{name}[/versions/{version}]/infer: JSON or binary tensors in, the same out."""
    if queued is not None:
        route, parsed = queued.submitted.route, queued.parsed
    else:
        header_length = _header_length(headers)
        route = oip_route(name, version)
        parsed = parse_infer(body, header_length)
    output, _, _ = run_tensor(route, parsed.tensor, submitted=queued.submitted if queued is not None else None)
    encoded, json_length = encode_infer(model_name=name, version=route.version.version, request_id=parsed.id,
                                        output=output, output_name=parsed.output_name or "output",
                                        binary=parsed.binary_output)
    if json_length is None:
        return HttpResponse(encoded, content_type="application/json")
    response = HttpResponse(encoded, content_type="application/octet-stream")
    response[HEADER_LENGTH] = str(json_length)
    return response
