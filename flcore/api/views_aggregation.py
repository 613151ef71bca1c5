"""Aggregation endpoints: status, configure, manual trigger, aggregated-model download."""
from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from fedplane.api.negotiation import FormatIsTheViewsParameter
from fedplane.api.scopes import Scope

from ..services import aggregation
from ..strategies.catalogue import describe
from . import schemas
from . import serializers as s


class StrategyCatalogueView(APIView):
    """Every strategy an execution may name as its algorithm, with its options."""

    required_scopes = {"read": Scope.FL_METRICS_VIEW}

    @extend_schema(responses=schemas.StrategyCatalogueSerializer)
    def get(self, request):
        return Response({"strategies": describe(), "plugins": sorted(settings.FLCORE_STRATEGY_PLUGINS)})


class AggregationStatusView(APIView):
    required_scopes = {"read": Scope.FL_METRICS_VIEW}

    @extend_schema(responses=schemas.AggregationStatusSerializer)
    def get(self, request, execution_pk):
        return Response(aggregation.aggregation_status(execution_id=execution_pk))


class AggregationConfigureView(APIView):
    required_scopes = {"write": Scope.FL_MODELS_AGGREGATE}

    @extend_schema(request=s.AggregationConfigureSerializer, responses=schemas.AggregationStatusSerializer)
    def post(self, request, execution_pk):
        payload = s.AggregationConfigureSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return Response(aggregation.aggregation_configure(execution_id=execution_pk, **payload.validated_data))


class AggregationTriggerView(APIView):
    required_scopes = {"write": Scope.FL_MODELS_AGGREGATE}

    @extend_schema(request=s.AggregationTriggerSerializer, responses={202: schemas.AggregationTriggeredSerializer})
    def post(self, request, execution_pk):
        payload = s.AggregationTriggerSerializer(data=request.data or {})
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        result = aggregation.aggregation_trigger(
            execution_id=execution_pk, round_number=data.get("round"),
            client_ids=[str(c) for c in data.get("clients", [])], wait_for_all=data["waitForAll"])
        return Response(result, status=status.HTTP_202_ACCEPTED)


class AggregatedModelView(APIView):
    required_scopes = {"read": Scope.FL_METRICS_VIEW}
    content_negotiation_class = FormatIsTheViewsParameter  # ?format=onnx is the model's file format

    @extend_schema(parameters=[OpenApiParameter("round", int),
                               OpenApiParameter("format", str, enum=["pytorch", "onnx", "h5", "safetensors", "npz"])],
                   responses={(200, "application/octet-stream"): bytes, (200, "application/x-hdf5"): bytes,
                              (200, "application/zip"): bytes})
    def get(self, request, execution_pk):
        exported, model = aggregation.aggregated_model_export(
            execution_id=execution_pk, round_number=request.query_params.get("round"),
            fmt=request.query_params.get("format", "pytorch"))
        response = HttpResponse(exported.content, content_type=exported.content_type)
        response["Content-Disposition"] = f'attachment; filename="{exported.filename}"'
        response["X-Model-Round"] = str(model.round_number)
        response["X-Model-SHA256"] = model.sha256  # of the stored checkpoint (safetensors)
        return response
