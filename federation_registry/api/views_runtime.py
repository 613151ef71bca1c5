"""Runtime configuration, hot reload, the public shell endpoint, deployments and telemetry."""
from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from fedplane.api.errors import DomainError, ErrorCode
from fedplane.api.middleware import json_error
from fedplane.api.scopes import Scope

from ..choices import Environment
from ..filtersets import DeploymentFilterSet
from ..models import Deployment
from ..services import deployments as deploy_services
from ..services import runtime, telemetry
from ..services.prometheus import count_shell_request
from . import schemas
from . import serializers as s

__all__ = ["RuntimeConfigView", "ReloadView", "shell_runtime", "DeploymentViewSet", "TelemetryView"]


class RuntimeConfigView(APIView):
    required_scopes = {"GET": Scope.FEDERATION_APPLICATIONS_READ, "PUT": Scope.FEDERATION_CONFIG_MANAGE}

    @extend_schema(responses=schemas.RuntimeConfigSerializer)
    def get(self, request, application_id: str):
        return Response(runtime.runtime_config_data(runtime.runtime_config_get(application_id)))

    @extend_schema(request=s.RuntimeConfigWriteSerializer, responses=schemas.RuntimeConfigSerializer)
    def put(self, request, application_id: str):
        payload = s.RuntimeConfigWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        config = runtime.runtime_config_update(
            application_id=application_id, public_path=data.get("publicPath"),
            chunk_load_timeout=data.get("chunkLoadTimeout"), remotes=data.get("remotes"),
            shared={k: dict(v) for k, v in data["shared"].items()} if "shared" in data else None)
        return Response(runtime.runtime_config_data(config))


class ReloadView(APIView):
    required_scopes = {"POST": Scope.FEDERATION_MODULES_DEPLOY}

    @extend_schema(request=s.ReloadSerializer, responses={202: schemas.ReloadRequestedSerializer})
    def post(self, request, application_id: str):
        payload = s.ReloadSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        result = runtime.runtime_reload(application_id=application_id, module_id=data["moduleId"],
                                        clear_cache=data["clearCache"])
        return Response(result, status=status.HTTP_202_ACCEPTED)


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 weak comparison: W/ prefixes ignored, a list or * accepted."""
    tags = [t.strip() for t in if_none_match.split(",")]
    return "*" in tags or etag in (t[2:] if t.startswith("W/") else t for t in tags)


@csrf_exempt
def shell_runtime(request, application_id: str, environment: str):
    """Public on purpose: a browser shell fetches it at startup before it has any credential,
    and it holds only what the page will load anyway (remote URLs and share config). A plain
    Django view, not DRF: it runs on every page load, and is one indexed read. Prometheus
    counts the answers by status (the share of 304s tells how well shells' copies keep)."""
    response = _shell_runtime(request, application_id, environment)
    count_shell_request(environment, response.status_code)
    return response


def _shell_runtime(request, application_id: str, environment: str):
    if request.method not in ("GET", "HEAD"):
        response = json_error(405, ErrorCode.METHOD_NOT_ALLOWED, f"Method {request.method} not allowed.",
                              request=request)
        response["Allow"] = "GET, HEAD"
        return response
    if environment not in Environment.values:
        return json_error(404, ErrorCode.NOT_FOUND, f"Unknown environment {environment!r}.",
                          {"environments": Environment.values}, request)
    try:
        body, etag = runtime.shell_config(application_id, environment, request.GET.get("clientId", ""))
    except DomainError as exc:
        return json_error(exc.status, exc.code, exc.message, exc.details, request)
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={settings.FEDERATION_SHELL_MAX_AGE}, must-revalidate",
               "Vary": "Origin", "Access-Control-Allow-Origin": "*"}
    if _matches(request.headers.get("If-None-Match", ""), etag):
        return HttpResponse(status=304, headers=headers)
    return HttpResponse(body if request.method == "GET" else b"", content_type="application/json", headers=headers)


class DeploymentViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = s.DeploymentSerializer
    filterset_class = DeploymentFilterSet
    queryset = Deployment.objects.all()
    required_scopes = {"read": Scope.FEDERATION_APPLICATIONS_READ, "write": Scope.FEDERATION_MODULES_DEPLOY}
    throttle_bucket = "deployment"
    sort_fields = {"created_at": "created_at", "status": "status"}
    default_sort = ("-created_at",)

    def retrieve(self, request, pk=None):
        return Response(s.DeploymentSerializer(deploy_services.deployment_get(pk)).data)

    @extend_schema(request=s.ReasonSerializer, responses={200: s.DeploymentSerializer})
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        payload = s.ReasonSerializer(data=request.data or {})
        payload.is_valid(raise_exception=True)
        deployment = deploy_services.deployment_rollback(
            deployment_id=pk, reason=payload.validated_data["reason"] or "manual rollback")
        return Response(s.DeploymentSerializer(deployment).data)

    @extend_schema(request=s.ReasonSerializer, responses={200: s.DeploymentSerializer})
    @action(detail=True, methods=["post"])
    def promote(self, request, pk=None):
        payload = s.ReasonSerializer(data=request.data or {})
        payload.is_valid(raise_exception=True)
        deployment = deploy_services.deployment_promote(
            deployment_id=pk, reason=payload.validated_data["reason"] or "manual promotion")
        return Response(s.DeploymentSerializer(deployment).data)


class TelemetryView(APIView):
    # A shell's key needs only the read scope: reporting its own load times changes no configuration.
    required_scopes = {"POST": Scope.FEDERATION_APPLICATIONS_READ}

    @extend_schema(request=s.TelemetrySerializer, responses={202: schemas.TelemetryAcceptedSerializer})
    def post(self, request):
        payload = s.TelemetrySerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        result = telemetry.telemetry_record(application_id=data["applicationId"], environment=data["environment"],
                                            client_id=data["clientId"], samples=[dict(x) for x in data["samples"]])
        return Response(result, status=status.HTTP_202_ACCEPTED)
