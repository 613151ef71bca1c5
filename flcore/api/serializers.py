"""Request and response shapes of the federated-learning API (camelCase, as in the seed)."""
from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..choices import (Algorithm, ClientRole, ClientStatus, Compute, DataQuality, ExecutionStatus, ModelType,
                       Partitioning, RoundStatus, Runtime, WeightingMode)
from ..models import AggregatedModel, ClientUpdate, FLClient, TrainingDataset, TrainingExecution, TrainingRound
from ..services.queue import execution_queue


class StrictSerializer(serializers.Serializer):
    """Rejects fields it does not know, so a typo is an error rather than silently ignored."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = set(data) - set(self.fields)
            if unknown:
                raise serializers.ValidationError({name: "unknown field" for name in sorted(unknown)})
        return super().to_internal_value(data)


class PartitioningSerializer(StrictSerializer):
    method = serializers.ChoiceField(choices=Partitioning.choices, default=Partitioning.IID)
    alpha = serializers.FloatField(min_value=1e-6, max_value=1e6, default=0.5,
                                   help_text="Dirichlet concentration: small values give each client few labels")
    seed = serializers.IntegerField(min_value=0, max_value=2**32 - 1, default=0)


class DivergenceSerializer(StrictSerializer):
    """Stop a diverging training with FL008: a non-finite loss, or one above factor x its best for rounds in a row."""
    metric = serializers.CharField(max_length=64, default="eval-loss",
                                   help_text="a loss (lower is better) from the round's evaluate or train metrics")
    factor = serializers.FloatField(min_value=1.0, max_value=1e6, default=2.0)
    rounds = serializers.IntegerField(min_value=1, max_value=10_000, default=3)


class TrainingConfigSerializer(StrictSerializer):
    rounds = serializers.IntegerField(min_value=1, max_value=10_000)
    minClients = serializers.IntegerField(min_value=1, max_value=10_000)
    clientFraction = serializers.FloatField(min_value=0.0, max_value=1.0, default=1.0)
    localEpochs = serializers.IntegerField(min_value=1, max_value=1000, default=1)
    batchSize = serializers.IntegerField(min_value=1, max_value=1_000_000, default=32)
    learningRate = serializers.FloatField(min_value=1e-9, max_value=100.0, default=0.05)
    # fedplane's default model (an MLP); a custom ClientApp may ignore these. A simulation
    # takes the input and class counts from its dataset when they are not given.
    inputDim = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False)
    numClasses = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False)
    hiddenDim = serializers.IntegerField(min_value=1, default=64)
    seed = serializers.IntegerField(default=0)
    proximalMu = serializers.FloatField(min_value=0.0, required=False)
    optimizer = serializers.ChoiceField(choices=["adam", "yogi", "adagrad"], required=False)
    serverLearningRate = serializers.FloatField(min_value=1e-9, required=False)
    divergence = DivergenceSerializer(required=False)
    strategyOptions = serializers.DictField(
        required=False, help_text="the algorithm's options, camelCase (GET /api/v1/fl/strategies lists them); "
                                  "a plug-in takes its constructor's keywords")
    clientApp = serializers.RegexField(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", required=False)
    roundTimeoutSeconds = serializers.IntegerField(min_value=1, default=600)
    connectTimeoutSeconds = serializers.IntegerField(min_value=1, default=120)
    # Round settings an operator may also change while it runs (POST /fl/aggregation/{id}/configure).
    minResponders = serializers.IntegerField(min_value=1, max_value=100_000, required=False,
                                             help_text="good replies a phase needs (default: minClients)")
    acceptedFailureFraction = serializers.FloatField(
        min_value=0.0, max_value=1.0, required=False,
        help_text="share of the sampled clients that may fail (error or no reply) in a round (default: 1.0)")
    # runtime "simulation" only
    numSupernodes = serializers.IntegerField(min_value=1, max_value=settings.FLCORE_SIMULATION_MAX_SUPERNODES,
                                             required=False, help_text="virtual clients of a simulation")
    dataset = serializers.CharField(max_length=64, required=False,
                                    help_text='"digits" or the id of an uploaded dataset (POST /fl/datasets)')
    partitioning = PartitioningSerializer(required=False)

    def validate(self, attrs):
        if attrs["clientFraction"] <= 0:
            raise serializers.ValidationError({"clientFraction": "must be greater than 0"})
        return attrs


class HomomorphicEncryptionSerializer(StrictSerializer):
    """CKKS parameters (flcore/he.py): clients encrypt their updates, the server adds ciphertexts."""
    enabled = serializers.BooleanField(default=False)
    polyModulusDegree = serializers.ChoiceField(choices=[8192, 16384, 32768], default=8192)
    coeffModBitSizes = serializers.ListField(child=serializers.IntegerField(min_value=20, max_value=60),
                                             min_length=3, max_length=8, default=[60, 40, 40, 60])
    globalScaleBits = serializers.IntegerField(min_value=20, max_value=60, default=40)

    def validate(self, attrs):
        from ..he import HEConfigError, HEParams
        try:
            HEParams.from_dict(attrs).check()
        except HEConfigError as exc:  # insecure for the ring size, or no room for one weighted sum
            raise serializers.ValidationError({"coeffModBitSizes": str(exc)}) from exc
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
    homomorphicEncryption = HomomorphicEncryptionSerializer(required=False)

    def validate(self, attrs):
        if attrs.get("differential_privacy"):
            missing = [k for k in ("epsilon", "delta") if attrs.get(k) in (None, 0)]
            if missing:
                raise serializers.ValidationError({k: "required when differential_privacy is true" for k in missing})
        return attrs


class ClientResourcesSerializer(StrictSerializer):
    numCpus = serializers.FloatField(min_value=0.01, max_value=1024, default=1.0)
    numGpus = serializers.FloatField(min_value=0.0, max_value=64, default=0.0)


class BackendConfigSerializer(StrictSerializer):
    """Flower's Simulation Engine backend: what each virtual client holds (so how many run at once)."""
    clientResources = ClientResourcesSerializer(required=False)


_SIMULATION_ONLY = ("numSupernodes", "dataset", "partitioning")


class ExecutionCreateSerializer(StrictSerializer):
    modelType = serializers.ChoiceField(choices=ModelType.choices, default=ModelType.CLASSIFICATION)
    algorithm = serializers.CharField(max_length=64)
    runtime = serializers.ChoiceField(choices=Runtime.choices, default=Runtime.DEPLOYMENT,
                                      help_text="deployment: real SuperNodes; simulation: virtual clients on Ray")
    config = TrainingConfigSerializer()
    privacyConfig = PrivacyConfigSerializer(required=False)
    backendConfig = BackendConfigSerializer(required=False)
    clients = serializers.ListField(child=serializers.UUIDField(format="hex_verbose"), required=False)

    def validate(self, attrs):
        config = attrs["config"]
        if attrs["runtime"] == Runtime.DEPLOYMENT:
            extra = [f"config.{k}" for k in _SIMULATION_ONLY if k in config] + (
                ["backendConfig"] if "backendConfig" in attrs else [])
            if extra:
                raise serializers.ValidationError({k: 'only for runtime "simulation"' for k in extra})
            return attrs
        errors = {}
        if "numSupernodes" not in config:
            errors["config.numSupernodes"] = 'required for runtime "simulation"'
        elif config["minClients"] > config["numSupernodes"]:
            errors["config.minClients"] = f"at most numSupernodes ({config['numSupernodes']})"
        if attrs.get("clients"):
            errors["clients"] = "a simulation's clients are virtual: leave it out"
        resources = (attrs.get("backendConfig") or {}).get("clientResources") or {}
        if not settings.RAY_ADDRESS and resources.get("numCpus", 1.0) > settings.FLCORE_SIMULATION_CPUS:
            errors["backendConfig.clientResources.numCpus"] = (
                f"the local Ray cluster has {settings.FLCORE_SIMULATION_CPUS} CPUs")
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def validate_algorithm(self, value: str) -> str:
        known = set(Algorithm.values) | set(settings.FLCORE_STRATEGY_PLUGINS)
        if value not in known:
            raise serializers.ValidationError(f"unknown algorithm {value!r}; known: {sorted(known)}")
        return value


class QueuePositionSerializer(serializers.Serializer):
    """A queued execution's place in the queue of executions waiting for a worker slot."""
    position = serializers.IntegerField(help_text="1-based place among queued executions, in the order they start")
    ahead = serializers.IntegerField()
    estimatedStartSeconds = serializers.FloatField(source="estimated_start_seconds", allow_null=True,
                                                   help_text="from recent round times; null: no round history yet")
    estimatedStartAt = serializers.DateTimeField(source="estimated_start_at", allow_null=True)


class QueueEntrySerializer(QueuePositionSerializer):
    executionId = serializers.UUIDField(source="execution_id")
    queuedAt = serializers.DateTimeField(source="queued_at", allow_null=True)
    rounds = serializers.IntegerField(help_text="rounds it runs once started")


class QueueSlotsSerializer(serializers.Serializer):
    running = serializers.IntegerField(help_text="executions holding a worker slot")
    total = serializers.IntegerField(source="slots", allow_null=True,
                                     help_text="slots the estimates assume (all busy while any execution waits); "
                                               "null when none waits")


class QueueSerializer(serializers.Serializer):
    executions = QueueEntrySerializer(many=True, source="entries")
    slots = QueueSlotsSerializer(source="*")
    roundSeconds = serializers.FloatField(source="round_seconds", allow_null=True,
                                          help_text="mean time of the recent rounds the estimates use")


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
    queue = serializers.SerializerMethodField()
    backendConfig = serializers.JSONField(source="backend_config")
    dataPartitioning = serializers.SerializerMethodField()

    class Meta:
        model = TrainingExecution
        fields = ["id", "status", "modelType", "algorithm", "runtime", "currentRound", "totalRounds",
                  "participatingClients", "config", "privacyConfig", "aggregationConfig", "backendConfig",
                  "dataPartitioning", "metrics", "privacyBudget", "error", "stopReason", "flowerRunId", "worker",
                  "createdAt", "startedAt", "completedAt", "queue"]

    def get_dataPartitioning(self, obj) -> dict | None:
        """How a simulation's dataset was split, without the per-client lists
        (GET /fl/executions/{id}/partitioning has them)."""
        if not obj.data_partitioning:
            return None
        return {k: v for k, v in obj.data_partitioning.items() if k not in ("sizes", "labelCounts")}

    def get_error(self, obj) -> dict | None:
        if not obj.error_code:
            return None
        return {"code": obj.error_code, "message": obj.error_message,
                **({"details": obj.error_details} if obj.error_details else {})}

    @extend_schema_field(QueuePositionSerializer(allow_null=True))
    def get_queue(self, obj) -> dict | None:
        if obj.status != ExecutionStatus.QUEUED:
            return None
        if "queue" not in self.context:  # once per response: a list shares its root's context
            self.context["queue"] = execution_queue()
        entry = self.context["queue"].entry(obj.pk)
        return QueuePositionSerializer(entry).data if entry else None


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


class ClientPurgeQuerySerializer(serializers.Serializer):
    purge = serializers.BooleanField(required=False, default=False,
                                     help_text="true: erase the client's personal records (required: a DELETE "
                                               "without it is 400; POST /revoke cuts a client off and keeps them)")


class ClientUpdateSerializer(serializers.ModelSerializer):
    clientId = serializers.UUIDField(source="client_id", allow_null=True)
    nodeId = serializers.CharField(source="node_id")
    partitionId = serializers.IntegerField(source="partition_id", allow_null=True)
    numExamples = serializers.IntegerField(source="num_examples")
    durationSeconds = serializers.FloatField(source="duration_seconds")

    class Meta:
        model = ClientUpdate
        fields = ["clientId", "nodeId", "partitionId", "phase", "numExamples", "metrics", "durationSeconds",
                  "error", "rejection"]
        extra_kwargs = {"rejection": {"help_text": "why the server kept this update out of the aggregate "
                                                   "(non-finite values, wrong keys, shapes or dtypes); empty: used"}}


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
        return sorted({_participant(u) for u in obj.updates.all() if u.phase == "train" and not u.error})

    def get_aggregatedModel(self, obj) -> dict | None:
        model = getattr(obj, "aggregated_model", None)
        return ModelReferenceSerializer(model).data if model else None


def _participant(update: ClientUpdate) -> str:
    """A registered client's id; else the virtual client (simulation) or the Flower node."""
    if update.client_id:
        return str(update.client_id)
    return f"partition:{update.partition_id}" if update.partition_id is not None else f"node:{update.node_id}"


class StragglerSerializer(serializers.Serializer):
    nodeId = serializers.CharField()
    clientId = serializers.CharField(allow_null=True)
    partitionId = serializers.IntegerField(allow_null=True)
    phase = serializers.ChoiceField(choices=["train", "evaluate"])
    seconds = serializers.FloatField(allow_null=True, help_text="push to reply; null: no reply by the timeout")
    lateBySeconds = serializers.FloatField(help_text="behind the phase's median reply")
    timedOut = serializers.BooleanField()


class RoundDetailSerializer(RoundSerializer):
    updates = ClientUpdateSerializer(many=True)
    stragglers = StragglerSerializer(many=True)
    settings = serializers.JSONField(help_text="roundTimeoutSeconds, minResponders, acceptedFailureFraction")

    class Meta(RoundSerializer.Meta):
        fields = RoundSerializer.Meta.fields + ["updates", "lost_node_ids", "stragglers", "settings"]


class AggregationConfigureSerializer(StrictSerializer):
    class Validation(StrictSerializer):
        enabled = serializers.BooleanField(default=False)
        threshold = serializers.FloatField(required=False)
        metrics = serializers.ListField(child=serializers.ChoiceField(choices=["accuracy", "loss"]),
                                        default=["accuracy"])

    strategy = serializers.CharField(max_length=64, required=False)
    weights = serializers.ChoiceField(choices=WeightingMode.choices, required=False,
                                      help_text="default: unchanged (proportional at first)")
    validation = Validation(required=False)
    # Round settings: a running execution applies them from its next round.
    roundTimeoutSeconds = serializers.IntegerField(min_value=1, max_value=86_400, required=False)
    minResponders = serializers.IntegerField(min_value=1, max_value=100_000, required=False)
    acceptedFailureFraction = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)


class AggregationTriggerSerializer(StrictSerializer):
    round = serializers.IntegerField(min_value=1, required=False)
    clients = serializers.ListField(child=serializers.UUIDField(), required=False)
    waitForAll = serializers.BooleanField(default=False)


class DatasetUploadSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    format = serializers.ChoiceField(choices=["npz", "csv"], required=False)


class DatasetSerializer(serializers.ModelSerializer):
    format = serializers.CharField(source="file_format")
    sizeBytes = serializers.IntegerField(source="size_bytes")
    numSamples = serializers.IntegerField(source="num_samples")
    numFeatures = serializers.IntegerField(source="num_features")
    numClasses = serializers.IntegerField(source="num_classes")
    createdAt = serializers.DateTimeField(source="created_at")

    class Meta:
        model = TrainingDataset
        fields = ["id", "name", "format", "sha256", "sizeBytes", "numSamples", "numFeatures", "numClasses",
                  "createdAt"]


class ExecutionPartitioningSerializer(serializers.Serializer):
    """A simulation's recorded split; partition i is virtual client i (Flower's partition-id)."""
    executionId = serializers.UUIDField(source="id")
    runtime = serializers.CharField()
    partitioning = serializers.JSONField(source="data_partitioning", help_text="dataset, method, alpha, seed, "
                                         "numPartitions, sizes[i], labelCounts[i][label]")
