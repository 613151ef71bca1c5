"""Metrics endpoints: training, system, data distribution, export; Flower connection info."""
from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from fedplane.api.scopes import Scope

from ..selectors import PERIODS, flower_connection
from ..services import metrics
from . import schemas


class TrainingMetricsView(APIView):
    required_scopes = {"read": Scope.FL_METRICS_VIEW}

    @extend_schema(parameters=[
        OpenApiParameter("executionId", OpenApiTypes.UUID, required=True),
        OpenApiParameter("metrics", str, description="comma-separated: " + ",".join(metrics.TRAINING_METRICS)
                                                     + " (default loss,accuracy)"),
        OpenApiParameter("aggregation", str, enum=list(metrics.AGGREGATIONS)),
        OpenApiParameter("interval", str, enum=list(metrics.INTERVALS))],
        responses=schemas.TrainingMetricsSerializer, extensions={"x-error-statuses": [404]})
    def get(self, request):
        params = request.query_params
        if not params.get("executionId"):
            raise serializers.ValidationError({"executionId": "required"})
        return Response(metrics.training_metrics(
            execution_id=params["executionId"], metrics=params.get("metrics"),
            aggregation=params.get("aggregation", "mean"), interval=params.get("interval", "1m")))


class SystemMetricsView(APIView):
    required_scopes = {"read": Scope.FL_METRICS_VIEW}

    @extend_schema(parameters=[OpenApiParameter("resource", str, description="cpu, memory, ... (default: all)"),
                               OpenApiParameter("nodeType", str, description="server or client (default: both)"),
                               OpenApiParameter("period", str, enum=list(PERIODS))],
                   responses=schemas.SystemMetricsSerializer)
    def get(self, request):
        params = request.query_params
        return Response(metrics.system_metrics(resource=params.get("resource"), node_type=params.get("nodeType"),
                                               period=params.get("period", "1h")))


class DataDistributionView(APIView):
    required_scopes = {"read": Scope.FL_METRICS_VIEW}

    @extend_schema(parameters=[
        OpenApiParameter("executionId", OpenApiTypes.UUID, description="its clients (default: every client)"),
        OpenApiParameter("analysis", str, description="comma-separated: heterogeneity,imbalance,quality")],
        responses=schemas.DataDistributionSerializer, extensions={"x-error-statuses": [404]})
    def get(self, request):
        params = request.query_params
        return Response(metrics.data_distribution(execution_id=params.get("executionId"),
                                                  analysis=params.get("analysis")))


class ExportSerializer(serializers.Serializer):
    executionId = serializers.UUIDField()
    format = serializers.ChoiceField(choices=["csv", "json", "parquet"], default="json")
    metrics = serializers.ListField(child=serializers.CharField(max_length=64), required=False)
    dateRange = serializers.DictField(child=serializers.DateTimeField(), required=False)


class MetricsExportView(APIView):
    required_scopes = {"write": Scope.FL_METRICS_VIEW}

    @extend_schema(request=ExportSerializer, responses={
        # The file itself, not the envelope: rows of {executionId, round, kind, nodeType, clientId, metric, ...}.
        (200, "application/json"): {"type": "array", "items": {"type": "object"}},
        (200, "text/csv"): str, (200, "application/vnd.apache.parquet"): bytes})
    def post(self, request):
        payload = ExportSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        date_range = data.get("dateRange", {})
        content, content_type, name = metrics.export_metrics(
            execution_id=data["executionId"], fmt=data["format"], metrics=data.get("metrics"),
            date_from=date_range.get("from"), date_to=date_range.get("to"))
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class FlowerRuntimeView(APIView):
    """Where SuperNodes connect (the SuperLink's Fleet API) and which flwr version to run."""

    required_scopes = {"read": Scope.FL_METRICS_VIEW}

    @extend_schema(responses=schemas.FlowerConnectionSerializer)
    def get(self, request):
        return Response(flower_connection())
