"""Datasets for simulations: upload (raw .npz or .csv bytes), list, show, delete."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from fedplane.api.negotiation import FormatIsTheViewsParameter
from fedplane.api.parsers import JSONParser, RawBytesParser
from fedplane.api.scopes import Scope

from ..models import TrainingDataset
from ..services import datasets
from . import serializers as s


class DatasetViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = s.DatasetSerializer
    queryset = TrainingDataset.objects.all()
    required_scopes = {"read": Scope.FL_METRICS_VIEW, "write": Scope.FL_TRAINING_EXECUTE}
    sort_fields = {"created_at": "created_at", "name": "name"}
    default_sort = ("-created_at",)
    search_fields = ["name"]
    lookup_value_regex = "[^/]+"
    parser_classes = [RawBytesParser, JSONParser]
    content_negotiation_class = FormatIsTheViewsParameter  # ?format=csv is the upload's file format

    def retrieve(self, request, pk=None):
        return Response(s.DatasetSerializer(datasets.dataset_get(pk)).data)

    @extend_schema(
        request={"application/octet-stream": OpenApiTypes.BINARY},
        parameters=[OpenApiParameter("name", str, required=True, description="file name, e.g. clinics.npz"),
                    OpenApiParameter("format", str, enum=list(datasets.FORMATS),
                                     description="npz or csv (default: from the name's suffix)")],
        responses={201: s.DatasetSerializer})
    def create(self, request):
        query = s.DatasetUploadSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        stream = request.stream

        def chunks():
            while stream is not None and (chunk := stream.read(1 << 20)):
                yield chunk
        row = datasets.dataset_upload(user=request.user, name=query.validated_data["name"], chunks=chunks(),
                                      file_format=query.validated_data.get("format"))
        return Response(s.DatasetSerializer(row).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        datasets.dataset_delete(dataset_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
