"""Regions, model registry and predict endpoints. Views parse, call one service, render."""
from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from fedplane.api.errors import Conflict, DomainError
from fedplane.api.parsers import RawBytesParser
from fedplane.api.scopes import Scope

from ..models import ModelVersion, RegisteredModel, Region
from ..services import registry, regions, serving
from . import schemas
from .inference import seed_predict
from . import serializers as s

__all__ = ["RegionListView", "RegionDetailView", "RegionConfigView", "RegionConfigAckView", "ModelListView",
           "ModelDetailView", "VersionListView", "VersionDetailView", "ArtifactUploadView", "PromoteView",
           "PredictView", "AsyncPredictView", "AsyncPredictionView", "AsyncPredictionResultView"]

_READ = {"read": Scope.REGIONS_MODELS_READ}


class RegionListView(APIView):
    required_scopes = {**_READ, "write": Scope.REGIONS_OPERATE}

    @extend_schema(responses=s.RegionSerializer(many=True))
    def get(self, request):
        return Response(s.RegionSerializer(Region.objects.all(), many=True).data)

    @extend_schema(request=s.RegionWriteSerializer, responses={201: s.RegionSerializer})
    def post(self, request):
        payload = s.RegionWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        region = regions.region_create(**payload.validated_data)
        return Response(s.RegionSerializer(region).data, status=status.HTTP_201_CREATED)


class RegionDetailView(APIView):
    required_scopes = {**_READ, "write": Scope.REGIONS_OPERATE}

    @extend_schema(responses=s.RegionSerializer)
    def get(self, request, name):
        return Response(s.RegionSerializer(regions.region_get(name)).data)

    @extend_schema(request=s.RegionWriteSerializer, responses=s.RegionSerializer)
    def patch(self, request, name):
        payload = s.RegionWriteSerializer(data={"name": name, **request.data}, partial=True)
        payload.is_valid(raise_exception=True)
        changes = {k: v for k, v in payload.validated_data.items() if k != "name" and k in request.data}
        return Response(s.RegionSerializer(regions.region_update(name=name, **changes)).data)


class RegionConfigView(APIView):
    """Configuration sync: the desired config of a region and whether the region applied it."""

    required_scopes = {**_READ, "write": Scope.REGIONS_OPERATE}

    @extend_schema(responses=schemas.RegionConfigSerializer)
    def get(self, request, name):
        region = regions.region_get(name)
        return Response({"region": name, "config": region.config, "config_version": region.config_version,
                         "synced_version": region.config_synced_version,
                         "in_sync": region.config_synced_version == region.config_version})

    @extend_schema(request=s.ConfigSerializer, responses=schemas.RegionConfigSetSerializer)
    def put(self, request, name):
        payload = s.ConfigSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        region = regions.region_config_set(name=name, config=payload.validated_data["config"])
        return Response({"region": name, "config_version": region.config_version, "in_sync": False})


class RegionConfigAckView(APIView):
    required_scopes = {"write": Scope.REGIONS_OPERATE}

    @extend_schema(request=s.ConfigAckSerializer, responses=schemas.RegionConfigAckedSerializer)
    def post(self, request, name):
        payload = s.ConfigAckSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        region = regions.region_config_ack(name=name, version=payload.validated_data["config_version"])
        return Response({"region": name, "synced_version": region.config_synced_version,
                         "in_sync": region.config_synced_version == region.config_version})


class ModelListView(APIView):
    required_scopes = {**_READ, "write": Scope.REGIONS_MODELS_WRITE}

    @extend_schema(responses=s.ModelSerializer(many=True))
    def get(self, request):
        return Response(s.ModelSerializer(RegisteredModel.objects.prefetch_related("versions"), many=True).data)

    @extend_schema(request=s.ModelCreateSerializer, responses={201: s.ModelSerializer})
    @transaction.atomic  # the response is read before the commit: no read after it can fail
    def post(self, request):
        payload = s.ModelCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        model = registry.model_create(name=payload.validated_data["model_id"],
                                      description=payload.validated_data["description"], user=request.user,
                                      batching=payload.validated_data["batching"])
        return Response(s.ModelSerializer(model).data, status=status.HTTP_201_CREATED)


class ModelDetailView(APIView):
    required_scopes = {**_READ, "write": Scope.REGIONS_MODELS_WRITE}

    @extend_schema(responses=s.ModelSerializer)
    def get(self, request, model_id):
        return Response(s.ModelSerializer(registry.model_get(model_id)).data)

    @extend_schema(request=s.ModelUpdateSerializer, responses=s.ModelSerializer)
    def patch(self, request, model_id):
        payload = s.ModelUpdateSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        model = registry.model_update(name=model_id, **payload.validated_data)
        return Response(s.ModelSerializer(model).data)


class VersionListView(APIView):
    required_scopes = {**_READ, "write": Scope.REGIONS_MODELS_WRITE}

    @extend_schema(responses=s.VersionSerializer(many=True))
    def get(self, request, model_id):
        model = registry.model_get(model_id)
        rows = ModelVersion.objects.filter(model=model).select_related("model", "home_region")
        return Response(s.VersionSerializer(rows, many=True).data)

    @extend_schema(request=s.VersionCreateSerializer, responses={201: s.VersionSerializer})
    @transaction.atomic  # the response is read before the commit: no read after it can fail
    def post(self, request, model_id):
        payload = s.VersionCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        row = registry.version_create(model_name=model_id, version=data["version"], fmt=data["format"],
                                      region_name=data["region"], architecture=data["architecture"],
                                      input_schema=data["input_schema"], content=data.get("artifact_base64"),
                                      artifact_key=data["artifact_key"])
        return Response(s.VersionSerializer(row).data, status=status.HTTP_201_CREATED)


class VersionDetailView(APIView):
    required_scopes = _READ

    @extend_schema(responses=s.VersionSerializer)
    def get(self, request, model_id, version):
        return Response(s.VersionSerializer(registry.version_get(model_id, version)).data)


class ArtifactUploadView(APIView):
    """PUT the artifact's bytes (application/octet-stream); it is streamed into the home region's store."""

    required_scopes = {"write": Scope.REGIONS_MODELS_WRITE}
    parser_classes = [RawBytesParser]

    @extend_schema(request={"application/octet-stream": OpenApiTypes.BINARY}, responses=s.VersionSerializer)
    def put(self, request, model_id, version):
        stream = request.stream

        def chunks():
            while stream is not None and (chunk := stream.read(1 << 20)):
                yield chunk
        row = registry.version_upload(model_name=model_id, version=version, chunks=chunks())
        return Response(s.VersionSerializer(row).data)


class PromoteView(APIView):
    """A version from an aggregated model of a federated training (flcore)."""

    required_scopes = {"write": Scope.REGIONS_MODELS_WRITE}

    @extend_schema(request=s.PromoteSerializer, responses={201: s.VersionSerializer})
    @transaction.atomic  # the response is read before the commit: no read after it can fail
    def post(self, request, model_id):
        payload = s.PromoteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        row = registry.version_promote_aggregated(model_name=model_id, version=data["version"],
                                                  aggregated_model_id=data["aggregated_model_id"],
                                                  region_name=data["region"])
        return Response(s.VersionSerializer(row).data, status=status.HTTP_201_CREATED)


class PredictView(APIView):
    required_scopes = {"write": Scope.REGIONS_PREDICT}
    throttle_bucket = "predict"
    audited = False  # changes no stored state; every prediction is recorded as a request metric

    @extend_schema(request=s.PredictSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request, model_id):
        return Response(seed_predict(model_id=model_id, data=request.data, headers=request.headers))


class AsyncPredictView(APIView):
    required_scopes = {"write": Scope.REGIONS_PREDICT}
    throttle_bucket = "predict"

    @extend_schema(request=s.PredictSerializer, responses={202: schemas.AsyncPredictionSerializer})
    def post(self, request, model_id):
        payload = s.PredictSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        row = serving.async_prediction_submit(model_name=model_id, inputs=payload.validated_data["inputs"],
                                              parameters=payload.validated_data["parameters"], user=request.user)
        return Response(s.async_body(row), status=status.HTTP_202_ACCEPTED)


class AsyncPredictionView(APIView):
    required_scopes = {"read": Scope.REGIONS_PREDICT}

    @extend_schema(responses=schemas.AsyncPredictionSerializer)
    def get(self, request, prediction_id):
        return Response(s.async_body(serving.async_prediction_get(prediction_id)))


class AsyncPredictionResultView(APIView):
    required_scopes = {"read": Scope.REGIONS_PREDICT}

    # 409 while it runs, 422 when it failed
    @extend_schema(responses=OpenApiTypes.OBJECT, extensions={"x-error-statuses": [409, 422]})
    def get(self, request, prediction_id):
        row = serving.async_prediction_get(prediction_id)
        if row.status == "failed":
            raise DomainError(row.error.get("message", "failed"), code=row.error.get("code", "PREDICTION_FAILED"),
                              status=422, details=row.error.get("details"))
        if row.status != "succeeded":
            raise Conflict(f"Prediction {prediction_id} is {row.status}; poll its status.",
                           details={"status": row.status})
        return Response(row.result)
