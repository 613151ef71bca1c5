"""Unified deployment endpoints: deploy, status, rollback. Views parse, call one service, render."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from fedplane.api.scopes import Scope

from ..services import deploy
from . import serializers as s

__all__ = ["DeployView", "DeploymentStatusView", "DeploymentRollbackView"]

# Changing both systems needs the right to change each; reading needs the right to read either.
WRITE = ("all", (Scope.FEDERATION_MODULES_DEPLOY, Scope.FL_TRAINING_EXECUTE))
READ = ("any", (Scope.FEDERATION_APPLICATIONS_READ, Scope.FL_METRICS_VIEW))


class _UnifiedView(APIView):
    throttle_bucket = "deployment"


class DeployView(_UnifiedView):
    scope_rule = WRITE

    @extend_schema(request=s.UnifiedDeploySerializer, responses={202: s.UnifiedDeploymentSerializer})
    def post(self, request):
        payload = s.UnifiedDeploySerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        federation, training = data["federation"], data["federatedLearning"]
        coordination = data.get("coordination") or {"syncDeployment": True, "rollbackOnFailure": True}
        execution_id = training.get("executionId")
        deployment = deploy.deployment_create(
            user=request.user, application_id=federation["applicationId"], modules=federation["modules"],
            strategy=federation["strategy"], environment=data["environment"],
            clients=[str(c) for c in training["clients"]], execution_id=str(execution_id) if execution_id else None,
            training=training.get("config"), sync_deployment=coordination["syncDeployment"],
            rollback_on_failure=coordination["rollbackOnFailure"])
        return Response(s.UnifiedDeploymentSerializer(deployment).data, status=status.HTTP_202_ACCEPTED)


class DeploymentStatusView(_UnifiedView):
    scope_rule = READ

    @extend_schema(responses=s.UnifiedDeploymentSerializer)
    def get(self, request, deployment_id: str):
        return Response(s.UnifiedDeploymentSerializer(deploy.deployment_status(deployment_id)).data)


class DeploymentRollbackView(_UnifiedView):
    scope_rule = WRITE

    @extend_schema(request=s.UnifiedRollbackSerializer, responses=s.UnifiedDeploymentSerializer)
    def post(self, request, deployment_id: str):
        payload = s.UnifiedRollbackSerializer(data=request.data or {})
        payload.is_valid(raise_exception=True)
        deployment = deploy.deployment_rollback(deployment_id=deployment_id, user=request.user,
                                                reason=payload.validated_data["reason"] or "manual rollback")
        return Response(s.UnifiedDeploymentSerializer(deployment).data)
