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
from rest_framework import exceptions as drf
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from fedplane.api.envelope import dumps
from fedplane.api.errors import exception_handler
from fedplane.api.lean import with_error_headers
from fedplane.api.parsers import RawBytesParser
from fedplane.api.scopes import Scope

from ..services import inflight
from ..services.loading import load_model
from ..services.oip import datatype_of
from .inference import HEADER_LENGTH, oip_infer, oip_route

__all__ = ["LiveView", "ReadyView", "ServerMetadataView", "ModelMetadataView", "ModelReadyView", "InferView",
           "not_found", "oip_error", "HEADER_LENGTH"]


def _json(payload, status: int = 200) -> HttpResponse:
    return HttpResponse(dumps(payload), status=status, content_type="application/json")


def oip_error(response) -> HttpResponse:
    """The protocol's error body for an error `response` of fedplane's exception handler (its envelope)."""
    message = (response.data.get("error") or {}).get("message", "error") if isinstance(response.data, dict) \
        else str(response.data)
    return with_error_headers(_json({"error": message}, response.status_code), response)


class _OIPView(APIView):
    required_scopes = {"read": Scope.REGIONS_MODELS_READ, "write": Scope.REGIONS_PREDICT}

    def handle_exception(self, exc):
        if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
            exc.auth_header = self.get_authenticate_header(self.request)  # a 401 names the schemes, as in DRF
        response = exception_handler(exc, self.get_exception_handler_context())
        if response is None:
            raise exc
        return oip_error(response)


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
        route = oip_route(name, version)
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
        route = oip_route(name, version)
        load_model(route.version, route.region)  # ready means loadable here, digest verified
        return _json({"name": name, "ready": True})


class InferView(_OIPView):
    parser_classes = [RawBytesParser]
    throttle_bucket = "predict"

    @extend_schema(request={"application/json": OpenApiTypes.OBJECT,
                            "application/octet-stream": OpenApiTypes.BINARY},
                   responses={(200, "application/json"): OpenApiTypes.OBJECT})
    def post(self, request, name, version=None):
        return oip_infer(name=name, version=version, body=request.stream.read() if request.stream else b"",
                         headers=request.headers)


@csrf_exempt  # answers any method; an OIP client sends no CSRF token (the API views are exempt too)
def not_found(request, rest: str = ""):
    """Any other path under /v2 (a model name no route takes, such as `a.b`): the protocol's 404 body,
    not Django's plain-text page."""
    parts = rest.split("/")
    if len(parts) >= 2 and parts[0] == "models" and parts[1]:
        return _json({"error": f"Model '{parts[1][:200]}' not found."}, 404)
    return _json({"error": f"No Open Inference Protocol endpoint at {request.path[:200]}."}, 404)
