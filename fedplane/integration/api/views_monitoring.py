"""Cross-system monitoring: combined health, dependency graph, performance overview."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from fedplane.api.errors import ErrorCode, error_body
from fedplane.api.scopes import Scope

from ..services import dependencies, health, performance
from .schemas_monitoring import DependencyGraphSerializer, IntegrationHealthSerializer, PerformanceOverviewSerializer

__all__ = ["HealthView", "DependenciesView", "PerformanceView"]


class _MonitoringView(APIView):
    # Both the federation and the FL side look at these pages.
    scope_rule = ("any", (Scope.FEDERATION_APPLICATIONS_READ, Scope.FL_METRICS_VIEW))


class HealthView(_MonitoringView):
    @extend_schema(parameters=[OpenApiParameter("refresh", bool, description="probe the regions now")],
                   responses={200: IntegrationHealthSerializer, 503: IntegrationHealthSerializer})
    def get(self, request):
        refresh = request.query_params.get("refresh", "").lower() in ("1", "true", "yes")
        body = health.combined_health(refresh_regions=refresh)
        if body["components"]["database"]["status"] == health.DOWN:
            return Response(error_body(ErrorCode.SERVICE_UNAVAILABLE, "The database is down.", body), status=503)
        return Response(body)


class DependenciesView(_MonitoringView):
    @extend_schema(parameters=[
        OpenApiParameter("view", str, enum=list(dependencies.VIEWS)),
        OpenApiParameter("depth", int, description=f"hops from the roots, 0 to {dependencies.MAX_DEPTH} "
                                                   f"(default {dependencies.DEFAULT_DEPTH})"),
        OpenApiParameter("root", str, description="<kind>:<id>[,...]; default: every application")],
        responses=DependencyGraphSerializer, extensions={"x-error-statuses": [404]})  # 404: an unknown root
    def get(self, request):
        params = request.query_params
        return Response(dependencies.dependency_graph(
            view=params.get("view") or "graph", depth=dependencies.parse_depth(params.get("depth")),
            roots=dependencies.parse_roots(params.get("root"))))


class PerformanceView(_MonitoringView):
    @extend_schema(parameters=[OpenApiParameter("systems", str, enum=list(performance.SYSTEMS)),
                               OpenApiParameter("period", str, enum=list(performance.PERIODS))],
                   responses=PerformanceOverviewSerializer)
    def get(self, request):
        return Response(performance.performance_overview(systems=request.query_params.get("systems"),
                                                         period=request.query_params.get("period")))
