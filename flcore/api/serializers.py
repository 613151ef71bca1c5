"""Request and response shapes of the federated-learning API (camelCase, as in the seed)."""
from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from ..choices import (Algorithm, ClientRole, ClientStatus, Compute, DataQuality, ModelType, RoundStatus,
                       WeightingMode)
from ..models import AggregatedModel, ClientUpdate, FLClient, TrainingExecution, TrainingRound


class StrictSerializer(serializers.Serializer):
    """Rejects fields it does not know, so a typo is an error rather than silently ignored."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = set(data) - set(self.fields)
            if unknown:
                raise serializers.ValidationError({name: "unknown field" for name in sorted(unknown)})
        return super().to_internal_value(data)


class TrainingConfigSerializer(StrictSerializer):
    rounds = serializers.IntegerField(min_value=1, max_value=10_000)
    minClients = serializers.IntegerField(min_value=1, max_value=10_000)
    clientFraction = serializers.FloatField(min_value=0.0, max_value=1.0, default=1.0)
    localEpochs = serializers.IntegerField(min_value=1, max_value=1000, default=1)
    batchSize = serializers.IntegerField(min_value=1, max_value=1_000_000, default=32)
    learningRate = serializers.FloatField(min_value=1e-9, max_value=100.0, default=0.05)
    # fedplane's default model (an MLP); a custom ClientApp may ignore these.
    inputDim = serializers.IntegerField(min_value=1, default=64)
    numClasses = serializers.IntegerField(min_value=1, default=10)
    hiddenDim = serializers.IntegerField(min_value=1, default=64)
    seed = serializers.IntegerField(default=0)
    proximalMu = serializers.FloatField(min_value=0.0, required=False)
    optimizer = serializers.ChoiceField(choices=["adam", "yogi", "adagrad"], required=False)
    serverLearningRate = serializers.FloatField(min_value=1e-9, required=False)
    clientApp = serializers.RegexField(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", required=False)
    roundTimeoutSeconds = serializers.IntegerField(min_value=1, default=600)
    connectTimeoutSeconds = serializers.IntegerField(min_value=1, default=120)

    def validate(self, attrs):
        if attrs["clientFraction"] <= 0:
            raise serializers.ValidationError({"clientFraction": "must be greater than 0"})
        return attrs


class PrivacyConfigSerializer(StrictSerializer):
    differential_privacy = serializers.BooleanField(default=False)
    epsilon = serializers.FloatField(min_value=1e-6, required=False)
    delta = serializers.FloatField(min_value=0.0, max_value=0.1, required=False)
    secure_aggregation = serializers.BooleanField(default=False)
    clippingNorm = serializers.FloatField(min_value=1e-9, default=1.0)
    # SecAgg+: a share of the sampled clients that must hold (and return) key shares
    secureAggregationThreshold = serializers.FloatField(min_value=0.01, max_value=1.0, required=False)
    secureAggregationMaxWeight = serializers.FloatField(min_value=1.0, required=False)

    def validate(self, attrs):
        if attrs.get("differential_privacy"):
            missing = [k for k in ("epsilon", "delta") if attrs.get(k) in (None, 0)]
            if missing:
                raise serializers.ValidationError({k: "required when differential_privacy is true" for k in missing})
        return attrs


class ExecutionCreateSerializer(StrictSerializer):
    modelType = serializers.ChoiceField(choices=ModelType.choices, default=ModelType.CLASSIFICATION)
    algorithm = serializers.CharField(max_length=64)
    config = TrainingConfigSerializer()
    privacyConfig = PrivacyConfigSerializer(required=False)
    clients = serializers.ListField(child=serializers.UUIDField(format="hex_verbose"), required=False)

    def validate_algorithm(self, value: str) -> str:
        known = set(Algorithm.values) | set(settings.FLCORE_STRATEGY_PLUGINS)
        if value not in known:
            raise serializers.ValidationError(f"unknown algorithm {value!r}; known: {sorted(known)}")
        return value


class ExecutionSerializer(serializers.ModelSerializer):
    modelType = serializers.CharField(source="model_type")
    currentRound = serializers.IntegerField(source="current_round")
    totalRounds = serializers.IntegerField(source="total_rounds")
    participatingClients = serializers.IntegerField(source="participating_clients")
    privacyConfig = serializers.JSONField(source="privacy_config")
    aggregationConfig = serializers.JSONField(source="aggregation_config")
    privacyBudget = serializers.JSONField(source="privacy_ledger")
    error = serializers.SerializerMethodField()
    stopReason = serializers.CharField(source="stop_reason")
    flowerRunId = serializers.CharField(source="flower_run_id")
    worker = serializers.CharField()
    createdAt = serializers.DateTimeField(source="created_at")
    startedAt = serializers.DateTimeField(source="started_at")
    completedAt = serializers.DateTimeField(source="completed_at")

    class Meta:
        model = TrainingExecution
        fields = ["id", "status", "modelType", "algorithm", "currentRound", "totalRounds", "participatingClients",
                  "config", "privacyConfig", "aggregationConfig", "metrics", "privacyBudget", "error", "stopReason",
                  "flowerRunId", "worker", "createdAt", "startedAt", "completedAt"]

    def get_error(self, obj) -> dict | None:
        return {"code": obj.error_code, "message": obj.error_message} if obj.error_code else None


class StopSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    saveCheckpoint = serializers.BooleanField(default=True)


class ResumeSerializer(StrictSerializer):
    fromRound = serializers.IntegerField(min_value=0, required=False)
    adjustConfig = serializers.DictField(required=False)

    def validate_adjustConfig(self, value):
        allowed = {"rounds", "localEpochs", "batchSize", "learningRate", "clientFraction", "minClients",
                   "proximalMu", "roundTimeoutSeconds"}
        unknown = set(value) - allowed
        if unknown:
            raise serializers.ValidationError(f"cannot adjust {sorted(unknown)}; adjustable: {sorted(allowed)}")
        partial = TrainingConfigSerializer(data={"rounds": 1, "minClients": 1, **value})
        partial.is_valid(raise_exception=True)
        return {k: partial.validated_data[k] for k in value}


class ClientRegisterSerializer(StrictSerializer):
    class Capability(StrictSerializer):
        compute = serializers.ChoiceField(choices=Compute.choices, default=Compute.CPU)
        memory = serializers.CharField(max_length=32, required=False)
        bandwidth = serializers.CharField(max_length=32, required=False)

    class DataProfile(StrictSerializer):
        samples = serializers.IntegerField(min_value=0, required=False)
        distribution = serializers.DictField(required=False)
        quality = serializers.ChoiceField(choices=DataQuality.choices, required=False)

    class Location(StrictSerializer):
        region = serializers.CharField(max_length=64, required=False, allow_blank=True)
        zone = serializers.CharField(max_length=64, required=False, allow_blank=True)

    name = serializers.CharField(max_length=200)
    capability = Capability(required=False)
    dataProfile = DataProfile(required=False)
    location = Location(required=False)
    publicKey = serializers.CharField(required=False, allow_blank=True, max_length=4000)


class ClientSerializer(serializers.ModelSerializer):
    dataProfile = serializers.JSONField(source="data_profile")
    currentExecution = serializers.UUIDField(source="current_execution_id", allow_null=True)
    lastSeen = serializers.DateTimeField(source="last_seen")
    nodeId = serializers.SerializerMethodField()

    class Meta:
        model = FLClient
        fields = ["id", "name", "status", "capability", "dataProfile", "location", "currentExecution",
                  "performance", "lastSeen", "nodeId", "metadata"]

    def get_nodeId(self, obj) -> str | None:
        return obj.node_id or None


class ClientStatusSerializer(StrictSerializer):
    status = serializers.ChoiceField(choices=ClientStatus.choices)
    metadata = serializers.DictField(required=False)


class AssignSerializer(StrictSerializer):
    executionId = serializers.UUIDField()
    role = serializers.ChoiceField(choices=ClientRole.choices, default=ClientRole.TRAINER)
    config = serializers.DictField(required=False)


class UnassignSerializer(StrictSerializer):
    executionId = serializers.UUIDField()


class ClientUpdateSerializer(serializers.ModelSerializer):
    clientId = serializers.UUIDField(source="client_id", allow_null=True)
    nodeId = serializers.CharField(source="node_id")
    numExamples = serializers.IntegerField(source="num_examples")
    durationSeconds = serializers.FloatField(source="duration_seconds")

    class Meta:
        model = ClientUpdate
        fields = ["clientId", "nodeId", "phase", "numExamples", "metrics", "durationSeconds", "error"]


class ModelReferenceSerializer(serializers.ModelSerializer):
    roundNumber = serializers.IntegerField(source="round_number")
    sizeBytes = serializers.IntegerField(source="size_bytes")
    createdAt = serializers.DateTimeField(source="created_at")

    class Meta:
        model = AggregatedModel
        fields = ["id", "roundNumber", "algorithm", "performance", "sha256", "sizeBytes", "metadata", "createdAt"]


class RoundSerializer(serializers.ModelSerializer):
    roundNumber = serializers.IntegerField(source="round_number")
    executionId = serializers.UUIDField(source="execution_id")
    participatingClients = serializers.SerializerMethodField()
    startedAt = serializers.DateTimeField(source="started_at")
    completedAt = serializers.DateTimeField(source="completed_at")
    aggregatedModel = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=RoundStatus.choices)

    class Meta:
        model = TrainingRound
        fields = ["roundNumber", "executionId", "status", "accepted", "participatingClients", "startedAt",
                  "completedAt", "metrics", "timings", "aggregatedModel"]

    def get_participatingClients(self, obj) -> list[str]:
        return sorted({str(u.client_id or f"node:{u.node_id}") for u in obj.updates.all()
                       if u.phase == "train" and not u.error})

    def get_aggregatedModel(self, obj) -> dict | None:
        model = getattr(obj, "aggregated_model", None)
        return ModelReferenceSerializer(model).data if model else None


class RoundDetailSerializer(RoundSerializer):
    updates = ClientUpdateSerializer(many=True)

    class Meta(RoundSerializer.Meta):
        fields = RoundSerializer.Meta.fields + ["updates", "lost_node_ids"]


class AggregationConfigureSerializer(StrictSerializer):
    class Validation(StrictSerializer):
        enabled = serializers.BooleanField(default=False)
        threshold = serializers.FloatField(required=False)
        metrics = serializers.ListField(child=serializers.ChoiceField(choices=["accuracy", "loss"]),
                                        default=["accuracy"])

    strategy = serializers.CharField(max_length=64, required=False)
    weights = serializers.ChoiceField(choices=WeightingMode.choices, default=WeightingMode.PROPORTIONAL)
    validation = Validation(required=False)


class AggregationTriggerSerializer(StrictSerializer):
    round = serializers.IntegerField(min_value=1, required=False)
    clients = serializers.ListField(child=serializers.UUIDField(), required=False)
    waitForAll = serializers.BooleanField(default=False)
