"""Open Inference Protocol v2 REST endpoints at /v2 (what KServe/Triton clients call).

Errors use the protocol's own body, {"error": "<message>"}, not fedplane's envelope,
because OIP clients read that. Health endpoints are public like /livez: load
balancers and the global prober call them without credentials.
"""
from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from fedplane.api.envelope import dumps
from fedplane.api.errors import DomainError, exception_handler
from fedplane.api.parsers import RawBytesParser
from fedplane.api.scopes import Scope

from ..services import inflight
from ..services.loading import load_model
from ..services.oip import datatype_of, encode_infer, parse_infer
from ..services.routing import model_routes
from ..services.serving import run_tensor

__all__ = ["LiveView", "ReadyView", "ServerMetadataView", "ModelMetadataView", "ModelReadyView", "InferView",
           "not_found"]

HEADER_LENGTH = "Inference-Header-Content-Length"


def _json(payload, status: int = 200) -> HttpResponse:
    return HttpResponse(dumps(payload), status=status, content_type="application/json")


class _OIPView(APIView):
    required_scopes = {"read": Scope.REGIONS_MODELS_READ, "write": Scope.REGIONS_PREDICT}

    def handle_exception(self, exc):
        response = exception_handler(exc, self.get_exception_handler_context())
        if response is None:
            raise exc
        message = (response.data.get("error") or {}).get("message", "error") if isinstance(response.data, dict) \
            else str(response.data)
        out = _json({"error": message}, response.status_code)
        for header in ("WWW-Authenticate", "Retry-After"):
            if header in response:
                out[header] = response[header]
        return out

    def _route(self, name: str, version: str | None):
        # Served from this process's region when it holds the version, else any region's store it can read.
        return model_routes(name, version=version)[0]


class LiveView(APIView):
    authentication_classes: list = []  # public: a liveness probe carries no credentials
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request):
        return _json({"live": True})


class ReadyView(LiveView):
    """Ready, with the requests in flight here (what a failover drain waits for)."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request):
        return _json({"ready": True, "region": settings.FEDPLANE_REGION, "inflight": inflight.count()})


class ServerMetadataView(_OIPView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request):
        return _json({"name": "fedplane", "version": settings.FEDPLANE_VERSION,
                      "extensions": ["binary_tensor_data"]})


class ModelMetadataView(_OIPView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, name, version=None):
        route = self._route(name, version)
        row = route.version
        schema = row.input_schema or {}
        return _json({"name": name, "versions": list(row.model.versions.values_list("version", flat=True)),
                      "platform": {"torchscript": "pytorch_torchscript", "onnx": "onnxruntime_onnx"}.get(
                          row.format, "pytorch_state_dict"),
                      "inputs": [{"name": "input", "datatype": datatype_of(schema.get("dtype", "float32")),
                                  "shape": schema.get("shape", [])}],
                      "outputs": [{"name": "output", "datatype": "FP32", "shape": [-1, -1]}]})


class ModelReadyView(_OIPView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, name, version=None):
        route = self._route(name, version)
        load_model(route.version, route.region)  # ready means loadable here, digest verified
        return _json({"name": name, "ready": True})


class InferView(_OIPView):
    parser_classes = [RawBytesParser]
    throttle_bucket = "predict"

    @extend_schema(request={"application/json": OpenApiTypes.OBJECT,
                            "application/octet-stream": OpenApiTypes.BINARY},
                   responses={(200, "application/json"): OpenApiTypes.OBJECT})
    def post(self, request, name, version=None):
        raw_length = request.headers.get(HEADER_LENGTH)
        try:
            header_length = int(raw_length) if raw_length is not None else None
        except ValueError:
            raise DomainError(f"{HEADER_LENGTH} must be an integer.", code="INVALID_INPUT", status=400) from None
        route = self._route(name, version)
        parsed = parse_infer(request.stream.read() if request.stream else b"", header_length)
        output, _, _ = run_tensor(route, parsed.tensor)
        body, json_length = encode_infer(model_name=name, version=route.version.version, request_id=parsed.id,
                                         output=output, output_name=parsed.output_name or "output",
                                         binary=parsed.binary_output)
        if json_length is None:
            return HttpResponse(body, content_type="application/json")
        response = HttpResponse(body, content_type="application/octet-stream")
        response[HEADER_LENGTH] = str(json_length)
        return response


@csrf_exempt  # answers any method; an OIP client sends no CSRF token (the API views are exempt too)
def not_found(request, rest: str = ""):
    """Any other path under /v2 (a model name no route takes, such as `a.b`): the protocol's 404 body,
    not Django's plain-text page."""
    parts = rest.split("/")
    if len(parts) >= 2 and parts[0] == "models" and parts[1]:
        return _json({"error": f"Model '{parts[1][:200]}' not found."}, 404)
    return _json({"error": f"No Open Inference Protocol endpoint at {request.path[:200]}."}, 404)
