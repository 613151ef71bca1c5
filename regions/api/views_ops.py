"""Replication, health, metrics, deployments, failover and cost endpoints."""
from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from fedplane.api.pagination import PagePagination
from fedplane.api.parsers import RawBytesParser
from fedplane.api.scopes import Scope

from ..models import Deployment
from ..services import cost, deployments, failover, focus, health, metrics, replication
from . import schemas
from . import serializers as s

__all__ = ["ReplicationView", "ReplicationStatusView", "ReplicationRollbackView", "SyncStatusView", "HealthView",
           "MetricsView", "DeploymentListView", "DeploymentDetailView", "DeploymentRollbackView", "FailoverView",
           "FailoverDetailView", "FailoverRollbackView", "CostSummaryView", "CostRecommendationsView",
           "CostImportView"]

_READ = {"read": Scope.REGIONS_MODELS_READ}
_OPERATE = {**_READ, "write": Scope.REGIONS_OPERATE}


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _number(request, name: str, default: float, minimum: float, maximum: float) -> float:
    raw = request.query_params.get(name)
    field = serializers.FloatField(min_value=minimum, max_value=maximum)
    try:
        return default if raw in (None, "") else field.run_validation(raw)
    except serializers.ValidationError as exc:
        raise serializers.ValidationError({name: exc.detail}) from None


class ReplicationView(APIView):
    required_scopes = _OPERATE
    throttle_bucket = "deployment"

    @extend_schema(request=s.ReplicationRequestSerializer, responses={202: schemas.ReplicationSerializer})
    @transaction.atomic  # the response is read before the commit: no read after it can fail
    def post(self, request):
        payload = s.ReplicationRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        job = replication.replication_start(user=request.user, **payload.validated_data)
        return Response(s.replication_body(job), status=status.HTTP_202_ACCEPTED)


class ReplicationStatusView(APIView):
    required_scopes = _READ

    @extend_schema(responses=schemas.ReplicationSerializer)
    def get(self, request, replication_id):
        return Response(s.replication_body(replication.replication_get(replication_id)))


class ReplicationRollbackView(APIView):
    required_scopes = _OPERATE

    @extend_schema(request=None, responses=schemas.ReplicationSerializer)
    def post(self, request, replication_id):
        return Response(s.replication_body(replication.replication_rollback(replication_id=replication_id)))


class SyncStatusView(APIView):
    """Data-sync status: every replica of every version and whether its digest is the version's."""

    required_scopes = _READ

    @extend_schema(parameters=[OpenApiParameter("model_id", str), OpenApiParameter("region", str)],
                   responses=OpenApiTypes.OBJECT)
    def get(self, request):
        rows = replication.replica_status(model_id=request.query_params.get("model_id"),
                                          region=request.query_params.get("region"))
        return Response({"in_sync": all(r["in_sync"] for r in rows), "replicas": rows})


class HealthView(APIView):
    required_scopes = _READ

    @extend_schema(parameters=[OpenApiParameter("refresh", bool)], responses=OpenApiTypes.OBJECT)
    def get(self, request):
        refresh = request.query_params.get("refresh", "").lower() in ("1", "true", "yes")
        return Response(health.health_report(refresh=refresh))


class MetricsView(APIView):
    required_scopes = _READ

    @extend_schema(parameters=[OpenApiParameter("metric_name", str, required=True,
                                                enum=list(metrics.METRIC_NAMES)),
                               OpenApiParameter("regions", str), OpenApiParameter("time_range", float)],
                   responses=OpenApiTypes.OBJECT)
    def get(self, request):
        name = request.query_params.get("metric_name")
        if not name:
            raise serializers.ValidationError({"metric_name": "This query parameter is required."})
        return Response(metrics.metrics_query(metric_name=name, regions=_csv(request.query_params.get("regions")),
                                              hours=_number(request, "time_range", 1, 0.001, 24 * 90)))


class DeploymentListView(APIView):
    required_scopes = _OPERATE
    throttle_bucket = "deployment"
    pagination_class = PagePagination

    @extend_schema(operation_id="regions_deployments_list", responses=schemas.RegionDeploymentSerializer(many=True))
    def get(self, request):
        page = self.paginator.paginate_queryset(Deployment.objects.select_related("model", "version"), request, self)
        return self.paginator.get_paginated_response([s.deployment_body(d) for d in page])

    @extend_schema(request=s.DeploymentRequestSerializer, responses={202: schemas.RegionDeploymentSerializer})
    @transaction.atomic  # the response is read before the commit: no read after it can fail
    def post(self, request):
        payload = s.DeploymentRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        deployment = deployments.deployment_start(user=request.user, **payload.validated_data)
        return Response(s.deployment_body(deployment), status=status.HTTP_202_ACCEPTED)

    @property
    def paginator(self):
        if not hasattr(self, "_paginator"):
            self._paginator = self.pagination_class()
        return self._paginator


class DeploymentDetailView(APIView):
    required_scopes = _READ

    @extend_schema(responses=schemas.RegionDeploymentSerializer)
    def get(self, request, deployment_id):
        return Response(s.deployment_body(deployments.deployment_get(deployment_id)))


class DeploymentRollbackView(APIView):
    required_scopes = _OPERATE
    throttle_bucket = "deployment"

    @extend_schema(request=None, responses=schemas.RegionDeploymentSerializer)
    def post(self, request, deployment_id):
        return Response(s.deployment_body(deployments.deployment_rollback(deployment_id=deployment_id)))


class FailoverView(APIView):
    required_scopes = _OPERATE
    throttle_bucket = "deployment"

    @extend_schema(request=s.FailoverRequestSerializer, responses={202: schemas.FailoverSerializer})
    def post(self, request):
        payload = s.FailoverRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        row = failover.failover_start(**payload.validated_data)
        return Response(s.failover_body(row), status=status.HTTP_202_ACCEPTED)


class FailoverDetailView(APIView):
    required_scopes = _READ

    @extend_schema(responses=schemas.FailoverSerializer)
    def get(self, request, failover_id):
        return Response(s.failover_body(failover.failover_get(failover_id)))


class FailoverRollbackView(APIView):
    required_scopes = _OPERATE
    throttle_bucket = "deployment"

    @extend_schema(request=None, responses=schemas.FailoverSerializer)
    def post(self, request, failover_id):
        return Response(s.failover_body(failover.failover_rollback(failover_id=failover_id)))


class CostSummaryView(APIView):
    required_scopes = _READ

    @extend_schema(parameters=[OpenApiParameter("days", int), OpenApiParameter("regions", str),
                               OpenApiParameter("source", str, enum=["metered", "billed"])],
                   responses=OpenApiTypes.OBJECT)
    def get(self, request):
        source = request.query_params.get("source", "metered")
        if source not in ("metered", "billed"):
            raise serializers.ValidationError({"source": "must be 'metered' or 'billed'"})
        return Response(cost.cost_summary(days=int(_number(request, "days", 30, 1, 3660)),
                                          regions=_csv(request.query_params.get("regions")), source=source))


class CostRecommendationsView(APIView):
    required_scopes = _READ

    @extend_schema(parameters=[OpenApiParameter("days", int)], responses=OpenApiTypes.OBJECT)
    def get(self, request):
        return Response(cost.cost_recommendations(days=int(_number(request, "days", 30, 1, 3660))))


class CostImportView(APIView):
    """Import a billing export: CSV with the FinOps FOCUS columns (BilledCost, ChargePeriodStart, ...)."""

    required_scopes = {"write": Scope.REGIONS_OPERATE}
    parser_classes = [RawBytesParser]

    @extend_schema(request={"text/csv": OpenApiTypes.STR}, responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        text = request.stream.read().decode("utf-8-sig", errors="replace") if request.stream else ""
        return Response(focus.import_focus_csv(text), status=status.HTTP_201_CREATED)
