"""Unified deployment endpoints: deploy, status, rollback. Views parse, call one service, render."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from fedplane.api.principals import request_scopes
from fedplane.api.scopes import Scope

from ..services import deploy
from . import serializers as s

__all__ = ["DeployView", "DeploymentStatusView", "DeploymentRollbackView"]

# Changing both systems needs the right to change each; reading needs the right to read either.
WRITE = ("all", (Scope.FEDERATION_MODULES_DEPLOY, Scope.FL_TRAINING_EXECUTE))
READ = ("any", (Scope.FEDERATION_APPLICATIONS_READ, Scope.FL_METRICS_VIEW))


class HasScopeRule(permissions.BasePermission):
    """`scope_rule = ("all" | "any", scopes)`: the one-scope HasRequiredScopes for two systems."""

    message = "This credential lacks the scope required here."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        mode, scopes = view.scope_rule
        held = request_scopes(request)
        missing = [scope for scope in scopes if scope not in held]
        if (mode == "all" and not missing) or (mode == "any" and len(missing) < len(scopes)):
            return True
        joined = "' and '" if mode == "all" else "' or '"
        self.message = f"Missing scope '{joined.join(missing)}'."
        return False


class _UnifiedView(APIView):
    permission_classes = [HasScopeRule]
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
