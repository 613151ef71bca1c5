"""Executions, rounds and clients endpoints. Views parse, call one service, render."""
from __future__ import annotations

from django.db import transaction
from django.db.models import Prefetch
from django.http import FileResponse, HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from fedplane.api.middleware import audit_note
from fedplane.api.scopes import ClientScope, Scope

from .. import selectors
from ..errors import PurgeNotRequested
from ..filtersets import ClientFilterSet, ExecutionFilterSet
from ..models import ClientUpdate, FLClient, TrainingExecution, TrainingRound
from ..services import client_access, client_records
from ..services import clients as client_services
from ..services import executions as execution_services
from ..services.encryption import he_secret_context
from ..services.queue import execution_queue
from . import schemas
from . import serializers as s
from .validation_codes import validated


class ExecutionViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = s.ExecutionSerializer
    filterset_class = ExecutionFilterSet
    queryset = TrainingExecution.objects.all()
    # The secret CKKS context goes to the execution's clients only: their managing scope, audited.
    required_scopes = {"read": Scope.FL_METRICS_VIEW, "write": Scope.FL_TRAINING_EXECUTE,
                       "he_context": Scope.FL_CLIENTS_MANAGE}
    audited_reads = ("he_context",)
    throttle_bucket = "training"
    # A client certificate reads the executions its client is assigned to, nothing more.
    client_scopes = {"retrieve": ClientScope.ASSIGNMENTS}
    client_owns = staticmethod(client_access.assigned_to_execution)
    sort_fields = {"created_at": "created_at", "status": "status", "started_at": "started_at"}
    default_sort = ("-created_at",)
    search_fields = ["algorithm", "model_type", "status"]
    lookup_value_regex = "[^/]+"

    def retrieve(self, request, pk=None):
        return Response(s.ExecutionSerializer(execution_services.execution_get(pk)).data)

    @extend_schema(request=s.ExecutionCreateSerializer, responses={202: s.ExecutionSerializer})
    @transaction.atomic  # the response is read before the commit: no read after it can fail
    def create(self, request):
        data = validated(s.ExecutionCreateSerializer(data=request.data))
        execution = execution_services.execution_create(
            user=request.user, model_type=data["modelType"], algorithm=data["algorithm"], config=data["config"],
            privacy_config=data.get("privacyConfig"), client_ids=[str(c) for c in data.get("clients", [])],
            runtime=data["runtime"], backend_config=data.get("backendConfig"))
        return Response(s.ExecutionSerializer(execution).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=s.StopSerializer, responses={202: s.ExecutionSerializer})
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        payload = s.StopSerializer(data=request.data or {})
        payload.is_valid(raise_exception=True)
        execution = execution_services.execution_stop(
            execution_id=pk, reason=payload.validated_data["reason"],
            save_checkpoint=payload.validated_data["saveCheckpoint"])
        return Response(s.ExecutionSerializer(execution).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=s.ResumeSerializer, responses={202: s.ExecutionSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        data = validated(s.ResumeSerializer(data=request.data or {}))
        execution = execution_services.execution_resume(
            execution_id=pk, from_round=data.get("fromRound"), adjust_config=data.get("adjustConfig"))
        return Response(s.ExecutionSerializer(execution).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    @action(detail=True, methods=["get"], url_path="he-context")
    def he_context(self, request, pk=None):
        """The secret CKKS context of a homomorphic-encryption execution, for a client assigned to it."""
        return HttpResponse(he_secret_context(execution_id=pk, user=request.user),
                            content_type="application/octet-stream")

    @extend_schema(responses={200: s.ExecutionPartitioningSerializer})
    @action(detail=True, methods=["get"])
    def partitioning(self, request, pk=None):
        """How a simulation's dataset was split: per virtual client, its size and label counts."""
        return Response(s.ExecutionPartitioningSerializer(execution_services.execution_get(pk)).data)

    @extend_schema(responses={200: s.QueueSerializer}, filters=False)
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def queue(self, request):
        """Executions waiting for a worker slot, in the order they start, with estimated starts."""
        return Response(s.QueueSerializer(execution_queue()).data)


class RoundViewSet(viewsets.GenericViewSet):
    """Rounds of one execution: list, detail, metrics, checkpoint download."""

    serializer_class = s.RoundSerializer
    required_scopes = {"read": Scope.FL_METRICS_VIEW}
    queryset = TrainingRound.objects.none()

    def _rounds(self, execution_id):
        execution = execution_services.execution_get(execution_id)
        return (TrainingRound.objects.filter(execution=execution).select_related("aggregated_model")
                .prefetch_related(Prefetch("updates", queryset=ClientUpdate.objects.order_by("phase", "node_id"))))

    def list(self, request, execution_pk=None):
        page = self.paginate_queryset(self._rounds(execution_pk).order_by("round_number"))
        return self.get_paginated_response(s.RoundSerializer(page, many=True).data)

    @extend_schema(responses=s.RoundDetailSerializer)
    def retrieve(self, request, execution_pk=None, pk=None):
        return Response(s.RoundDetailSerializer(selectors.round_get(self._rounds(execution_pk), pk)).data)

    @extend_schema(responses=schemas.RoundMetricsSerializer)
    @action(detail=True, methods=["get"])
    def metrics(self, request, execution_pk=None, pk=None):
        return Response(selectors.round_metrics(selectors.round_get(self._rounds(execution_pk), pk)))

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    @action(detail=True, methods=["get"])
    def checkpoint(self, request, execution_pk=None, pk=None):
        model = selectors.checkpoint_of(selectors.round_get(self._rounds(execution_pk), pk))
        handle, filename = selectors.open_artifact(model)
        response = FileResponse(handle, as_attachment=True, filename=filename,
                                content_type="application/octet-stream")
        response["X-Checksum-SHA256"] = model.sha256
        return response


class ClientViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = s.ClientSerializer
    filterset_class = ClientFilterSet
    queryset = FLClient.objects.all()
    # An export holds the client's personal records: the managing scope, as a purge.
    required_scopes = {"read": Scope.FL_METRICS_VIEW, "write": Scope.FL_CLIENTS_MANAGE,
                       "export": Scope.FL_CLIENTS_MANAGE}
    audited_reads = ("export",)
    # A client certificate reaches its own record only: status, heartbeat, metrics.
    client_scopes = {"retrieve": ClientScope.STATUS, "set_status": ClientScope.HEARTBEAT,
                     "metrics": ClientScope.METRICS}
    client_owns = staticmethod(client_access.owns_client_record)
    sort_fields = {"name": "name", "last_seen": "last_seen", "created_at": "created_at"}
    search_fields = ["name", "region"]

    def retrieve(self, request, pk=None):
        return Response(s.ClientSerializer(client_services.client_get(pk)).data)

    @extend_schema(parameters=[s.ClientPurgeQuerySerializer], responses={200: schemas.ClientPurgedSerializer},
                   extensions={"x-error-statuses": [400, 404, 409]})
    def destroy(self, request, pk=None):
        """Erase the client's personal records (`purge=true`); the rounds and aggregated models it
        contributed to and the audit log stay. 409 CLIENT_IN_EXECUTION while it is in a queued,
        running or stopping execution; 404 once purged."""
        query = validated(s.ClientPurgeQuerySerializer(data=request.query_params))
        if not query["purge"]:
            raise PurgeNotRequested(details={"purge": ["true is required."]})
        result = client_records.client_purge(client_id=pk)
        audit_note(request, clientId=result["clientId"], erased=result["erased"])
        return Response(result)

    @extend_schema(responses={200: schemas.ClientExportSerializer})
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        """Everything stored about the client in one document (GDPR/CCPA access and portability)."""
        document = client_records.client_export(client_id=pk)
        audit_note(request, clientId=document["client"]["id"], counts=document["counts"])
        return Response(document)

    @extend_schema(request=s.ClientRegisterSerializer, responses={201: schemas.ClientRegisteredSerializer})
    def create(self, request):
        payload = s.ClientRegisterSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        client = client_services.client_register(
            owner=request.user, name=data["name"], capability=data.get("capability"),
            data_profile=data.get("dataProfile"), location=data.get("location"),
            public_key=data.get("publicKey", ""))
        return Response({**s.ClientSerializer(client).data, "flower": selectors.flower_connection()},
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ClientStatusSerializer, responses={200: s.ClientSerializer})
    @action(detail=True, methods=["put"], url_path="status")
    def set_status(self, request, pk=None):
        payload = s.ClientStatusSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        client = client_services.client_set_status(client_id=pk, **payload.validated_data)
        return Response(s.ClientSerializer(client).data)

    @extend_schema(request=s.AssignSerializer, responses={201: schemas.AssignmentSerializer})
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        payload = s.AssignSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        assignment = client_services.client_assign(client_id=pk, execution_id=data["executionId"],
                                                   role=data["role"], config=data.get("config"))
        return Response({"clientId": str(assignment.client_id), "executionId": str(assignment.execution_id),
                         "role": assignment.role, "config": assignment.config,
                         "flower": selectors.flower_connection()}, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.UnassignSerializer, responses=schemas.UnassignedSerializer)
    @action(detail=True, methods=["post"])
    def unassign(self, request, pk=None):
        payload = s.UnassignSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        execution_id = payload.validated_data["executionId"]
        removed = client_services.client_unassign(client_id=pk, execution_id=execution_id)
        return Response({"clientId": str(pk), "executionId": str(execution_id), "unassigned": removed})

    @extend_schema(request=None, responses={200: s.ClientSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        return Response(s.ClientSerializer(client_services.client_revoke(client_id=pk)).data)

    @extend_schema(parameters=[OpenApiParameter("metrics", str, description="comma-separated: performance,"
                                                                          "data_quality,contribution"),
                               OpenApiParameter("period", str, enum=list(selectors.PERIODS))],
                   responses=schemas.ClientMetricsSerializer)
    @action(detail=True, methods=["get"])
    def metrics(self, request, pk=None):
        client = client_services.client_get(pk)
        return Response(selectors.client_metrics(client, request.query_params.get("metrics"),
                                                 request.query_params.get("period", "24h")))
