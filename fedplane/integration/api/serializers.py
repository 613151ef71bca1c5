"""Request and response shapes of the unified deployment (camelCase, as in the seed)."""
from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from federation_registry.choices import DeploymentStrategy, Environment
from flcore.api.serializers import ExecutionCreateSerializer, StrictSerializer

from ..choices import StepStatus, TrainingMode, UnifiedStatus
from ..models import UnifiedDeployment

__all__ = ["UnifiedDeploySerializer", "UnifiedRollbackSerializer", "UnifiedDeploymentSerializer"]


class TrainingStartSerializer(ExecutionCreateSerializer):
    """What POST /fl/executions takes, without `clients` (the deploy body names them once)."""

    clients = None


class FederationPartSerializer(StrictSerializer):
    applicationId = serializers.CharField(max_length=100)
    modules = serializers.ListField(child=serializers.CharField(max_length=100), max_length=500, default=list)
    # Not in the seed: how the Module Federation half rolls out (blue-green switches at once).
    strategy = serializers.ChoiceField(choices=DeploymentStrategy.choices, default=DeploymentStrategy.BLUE_GREEN)


class TrainingPartSerializer(StrictSerializer):
    executionId = serializers.UUIDField(format="hex_verbose", required=False, allow_null=True)
    clients = serializers.ListField(child=serializers.UUIDField(format="hex_verbose"), min_length=1,
                                    max_length=10_000)
    config = TrainingStartSerializer(
        required=False, help_text="A new execution, as POST /fl/executions takes it (when no executionId).")

    def validate(self, attrs):
        if attrs.get("executionId") and attrs.get("config"):
            raise serializers.ValidationError({"config": "give executionId (join or resume it) or config (start a "
                                                         "new execution), not both"})
        if not attrs.get("executionId") and not attrs.get("config"):
            raise serializers.ValidationError({"config": "required when executionId is absent"})
        return attrs


class CoordinationSerializer(StrictSerializer):
    syncDeployment = serializers.BooleanField(default=True)
    rollbackOnFailure = serializers.BooleanField(default=True)


class UnifiedDeploySerializer(StrictSerializer):
    federation = FederationPartSerializer()
    federatedLearning = TrainingPartSerializer()
    environment = serializers.ChoiceField(choices=Environment.choices)
    coordination = CoordinationSerializer(required=False)


class UnifiedRollbackSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class StepSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="federation, training, rollback:training or rollback:federation")
    status = serializers.ChoiceField(choices=StepStatus.choices)
    at = serializers.DateTimeField()
    detail = serializers.DictField()


def _link(name: str, pk) -> str | None:
    return reverse(name, args=[str(pk)]) if pk else None


class UnifiedDeploymentSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=UnifiedStatus.choices)
    federation = serializers.SerializerMethodField()
    federatedLearning = serializers.SerializerMethodField()
    coordination = serializers.SerializerMethodField()
    coordinatedRound = serializers.SerializerMethodField()
    steps = StepSerializer(many=True)
    error = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    completedAt = serializers.DateTimeField(source="completed_at")

    class Meta:
        model = UnifiedDeployment
        fields = ["id", "status", "environment", "federation", "federatedLearning", "coordination",
                  "coordinatedRound", "steps", "error", "links", "createdAt", "updatedAt", "completedAt"]

    def get_federation(self, obj) -> dict:
        mf = obj.federation_deployment
        return {"applicationId": str(obj.application_id) if obj.application_id else None,
                "modules": [str(pk) for pk in obj.modules.values_list("pk", flat=True)],
                "strategy": (obj.request.get("federation") or {}).get("strategy"),
                "deploymentId": str(mf.pk) if mf else None, "deploymentStatus": mf.status if mf else None,
                "trafficPercent": mf.traffic_percent if mf else None}

    def get_federatedLearning(self, obj) -> dict:
        execution = obj.execution
        return {"executionId": str(execution.pk) if execution else None,
                "executionStatus": execution.status if execution else None,
                "currentRound": execution.current_round if execution else None,
                "clients": [str(pk) for pk in obj.clients.values_list("pk", flat=True)],
                "mode": obj.training_mode or TrainingMode.START, "startedExecution": obj.started_execution}

    def get_coordination(self, obj) -> dict:
        return {"syncDeployment": obj.sync_deployment, "rollbackOnFailure": obj.rollback_on_failure}

    def get_coordinatedRound(self, obj) -> dict | None:
        round_ = obj.coordinated_round
        return {"roundNumber": round_.round_number, "status": round_.status} if round_ else None

    def get_error(self, obj) -> dict | None:
        return {"code": obj.error_code, "message": obj.error_message} if obj.error_code else None

    def get_links(self, obj) -> dict:
        return {"self": _link("integration-deployment-detail", obj.pk),
                "rollback": _link("integration-deployment-rollback", obj.pk),
                "federationDeployment": _link("mf-deployment-detail", obj.federation_deployment_id),
                "execution": _link("fl-execution-detail", obj.execution_id)}
