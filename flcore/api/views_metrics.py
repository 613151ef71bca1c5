"""Metrics endpoints: training, system, data distribution, export; Flower connection info."""
from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from fedplane.api.scopes import Scope

from ..selectors import flower_connection
from ..services import metrics


class TrainingMetricsView(APIView):
    required_scopes = {"read": Scope.FL_METRICS_VIEW}

    def get(self, request):
        params = request.query_params
        if not params.get("executionId"):
            raise serializers.ValidationError({"executionId": "required"})
        return Response(metrics.training_metrics(
            execution_id=params["executionId"], metrics=params.get("metrics"),
            aggregation=params.get("aggregation", "mean"), interval=params.get("interval", "1m")))


class SystemMetricsView(APIView):
    required_scopes = {"read": Scope.FL_METRICS_VIEW}

    def get(self, request):
        params = request.query_params
        return Response(metrics.system_metrics(resource=params.get("resource"), node_type=params.get("nodeType"),
                                               period=params.get("period", "1h")))


class DataDistributionView(APIView):
    required_scopes = {"read": Scope.FL_METRICS_VIEW}

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

    @extend_schema(request=ExportSerializer, responses={(200, "application/octet-stream"): bytes})
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

    def get(self, request):
        return Response(flower_connection())
