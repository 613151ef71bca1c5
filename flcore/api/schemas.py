"""OpenAPI shapes of the federated-learning bodies that services build as dicts
(documentation only: the views render what the services return)."""
from __future__ import annotations

from rest_framework import serializers

from ..choices import ClientRole, ExecutionStatus, WeightingMode
from .serializers import ClientSerializer

__all__ = ["AggregationStatusSerializer", "AggregationTriggeredSerializer", "TrainingMetricsSerializer",
           "SystemMetricsSerializer", "DataDistributionSerializer", "FlowerConnectionSerializer",
           "ClientMetricsSerializer", "ClientRegisteredSerializer", "AssignmentSerializer", "UnassignedSerializer",
           "RoundMetricsSerializer", "StrategyCatalogueSerializer", "ClientPurgedSerializer",
           "ClientExportSerializer"]

_FREE = {"help_text": "free-form"}


class AggregationRoundSettingsSerializer(serializers.Serializer):
    roundTimeoutSeconds = serializers.IntegerField()
    minResponders = serializers.IntegerField()
    acceptedFailureFraction = serializers.FloatField(allow_null=True)


class LastAggregationSerializer(serializers.Serializer):
    modelId = serializers.CharField()
    round = serializers.IntegerField()
    sha256 = serializers.CharField()
    sizeBytes = serializers.IntegerField()
    accepted = serializers.BooleanField()
    performance = serializers.DictField(**_FREE)
    createdAt = serializers.DateTimeField()


class AggregationTriggerInfoSerializer(serializers.Serializer):
    round = serializers.IntegerField()
    clients = serializers.ListField(child=serializers.CharField())
    waitForAll = serializers.BooleanField()


class AggregationStatusSerializer(serializers.Serializer):
    executionId = serializers.UUIDField()
    status = serializers.ChoiceField(choices=ExecutionStatus.choices)
    strategy = serializers.CharField()
    weights = serializers.ChoiceField(choices=WeightingMode.choices)
    validation = serializers.DictField(help_text="{enabled, threshold, metrics}")
    roundSettings = AggregationRoundSettingsSerializer()
    currentRound = serializers.IntegerField()
    totalRounds = serializers.IntegerField()
    pendingTrigger = AggregationTriggerInfoSerializer(allow_null=True,
                                                      help_text="a manual trigger its next round will take")
    lastAggregation = LastAggregationSerializer(allow_null=True)


class AggregationTriggeredSerializer(serializers.Serializer):
    executionId = serializers.UUIDField()
    trigger = AggregationTriggerInfoSerializer()


class MetricPointSerializer(serializers.Serializer):
    round = serializers.IntegerField()
    value = serializers.FloatField(required=False)
    lossDelta = serializers.FloatField(required=False, help_text="convergence")
    clients = serializers.IntegerField(required=False, help_text="participation")


class MetricBucketSerializer(serializers.Serializer):
    timestamp = serializers.DateTimeField()
    value = serializers.FloatField()
    count = serializers.IntegerField()


class MetricSeriesSerializer(serializers.Serializer):
    perRound = MetricPointSerializer(many=True)
    buckets = MetricBucketSerializer(many=True, required=False, help_text="loss, accuracy: per interval")
    converging = serializers.BooleanField(required=False, help_text="convergence: the last 3 deltas sum below 0")


class TrainingMetricsSerializer(serializers.Serializer):
    executionId = serializers.UUIDField()
    aggregation = serializers.CharField()
    interval = serializers.CharField()
    series = serializers.DictField(child=MetricSeriesSerializer(), help_text="by metric name")


class SystemResourceSerializer(serializers.Serializer):
    nodeType = serializers.CharField()
    resource = serializers.CharField()
    latest = serializers.FloatField()
    mean = serializers.FloatField()
    max = serializers.FloatField()
    samples = serializers.IntegerField()


class SystemMetricsSerializer(serializers.Serializer):
    period = serializers.CharField()
    resources = SystemResourceSerializer(many=True)


class DataDistributionSerializer(serializers.Serializer):
    executionId = serializers.UUIDField(allow_null=True)
    clients = serializers.IntegerField(help_text="clients analysed")
    heterogeneity = serializers.DictField(required=False, help_text="{metric, perClient, mean, max}")
    imbalance = serializers.DictField(required=False, help_text="{samplesPerClient, giniSamples, "
                                                                "maxMinSampleRatio, labelImbalanceRatio}")
    quality = serializers.DictField(required=False, help_text="{byQuality}")


class FlowerConnectionSerializer(serializers.Serializer):
    superlinkAddress = serializers.CharField(help_text="host:port of the SuperLink's Fleet API")
    insecure = serializers.BooleanField()
    nodeAuth = serializers.BooleanField(help_text="start the SuperNode with the registered key's private half")
    flwrVersion = serializers.CharField()


class ClientRegisteredSerializer(ClientSerializer):
    flower = FlowerConnectionSerializer(read_only=True, help_text="where the client's SuperNode connects")

    class Meta(ClientSerializer.Meta):
        fields = [*ClientSerializer.Meta.fields, "flower"]


class ClientMetricsSerializer(serializers.Serializer):
    clientId = serializers.UUIDField()
    period = serializers.CharField()
    performance = serializers.DictField(required=False, help_text="rounds, mean/max/minDurationSeconds, "
                                                                  "evaluations, system")
    dataQuality = serializers.DictField(required=False, allow_null=True, help_text="the client's data profile")
    contribution = serializers.DictField(required=False, help_text="{examples, rounds, share}")


class AssignmentSerializer(serializers.Serializer):
    clientId = serializers.UUIDField()
    executionId = serializers.UUIDField()
    role = serializers.ChoiceField(choices=ClientRole.choices)
    config = serializers.DictField(allow_null=True, **_FREE)
    flower = FlowerConnectionSerializer()


class UnassignedSerializer(serializers.Serializer):
    clientId = serializers.CharField()
    executionId = serializers.UUIDField()
    unassigned = serializers.BooleanField(help_text="false: it was not assigned")


class RoundMetricsSerializer(serializers.Serializer):
    roundNumber = serializers.IntegerField()
    aggregated = serializers.DictField(**_FREE)
    timings = serializers.DictField(**_FREE)
    participation = serializers.DictField(help_text="{clients, lostNodes, examples}")
    clients = serializers.ListField(child=serializers.DictField(), help_text="{clientId, nodeId, phase, numExamples, "
                                                                            "metrics, durationSeconds}")


class StrategyOptionSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="its key in config.strategyOptions")
    type = serializers.ChoiceField(choices=["int", "float", "str"])
    range = serializers.CharField(allow_null=True)
    default = serializers.JSONField(allow_null=True, help_text="Flower's default; null: none (fedplane fills it)")
    description = serializers.CharField()


class StrategyEntrySerializer(serializers.Serializer):
    name = serializers.CharField(help_text="the execution's algorithm")
    summary = serializers.CharField()
    clientWeights = serializers.BooleanField(help_text="takes the aggregation weights (proportional, uniform, "
                                                       "performance); the others count each update once")
    byzantineRobust = serializers.BooleanField()
    meanBased = serializers.BooleanField()
    checkpointState = serializers.ListField(child=serializers.CharField(),
                                            help_text="optimiser state a checkpoint keeps for a resume")
    options = StrategyOptionSerializer(many=True)


class StrategyCatalogueSerializer(serializers.Serializer):
    strategies = StrategyEntrySerializer(many=True)
    plugins = serializers.ListField(child=serializers.CharField(), help_text="FLCORE_STRATEGY_PLUGINS names")


class ClientErasedSerializer(serializers.Serializer):
    updates = serializers.IntegerField(help_text="updates left as anonymous stubs (metrics, node, texts erased)")
    telemetry = serializers.IntegerField(help_text="system readings (heartbeats) deleted")
    assignments = serializers.IntegerField()
    stragglerMarks = serializers.IntegerField(help_text="rounds whose straggler list no longer names it")
    events = serializers.IntegerField(help_text="events naming it, reduced to their ids")
    auditAddresses = serializers.IntegerField(help_text="audit lines about it whose remote address was erased")
    certificates = serializers.IntegerField(help_text="its client certificates deleted (refused from then on)")
    record = serializers.IntegerField(help_text="1: the client record deleted")
    flowerNode = serializers.IntegerField(help_text="1: its Flower node was unregistered")


class ClientPurgedSerializer(serializers.Serializer):
    clientId = serializers.UUIDField()
    purged = serializers.BooleanField()
    erased = ClientErasedSerializer()
    purgedAt = serializers.DateTimeField()


class ClientExportRecordSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    status = serializers.CharField()
    capability = serializers.DictField(**_FREE)
    dataProfile = serializers.DictField(**_FREE)
    location = serializers.DictField(**_FREE)
    performance = serializers.DictField(**_FREE)
    metadata = serializers.DictField(**_FREE)
    currentExecution = serializers.UUIDField(allow_null=True)
    nodeId = serializers.CharField(allow_null=True)
    publicKey = serializers.CharField(allow_null=True)
    owner = serializers.CharField(allow_null=True, help_text="the registering account's username")
    lastSeen = serializers.DateTimeField(allow_null=True)
    createdAt = serializers.DateTimeField()


def _rows(text: str):
    return serializers.ListField(child=serializers.DictField(), help_text=f"newest first: {text}")


class ClientExportSerializer(serializers.Serializer):
    format = serializers.CharField(help_text="fedplane.client-export/1")
    exportedAt = serializers.DateTimeField()
    client = ClientExportRecordSerializer()
    assignments = _rows("{executionId, executionStatus, role, config, assignedAt}")
    updates = _rows("{executionId, round, phase, nodeId, numExamples, metrics, durationSeconds, error, rejection, "
                    "receivedAt}")
    telemetry = _rows("heartbeat readings {kind, name, value, executionId, round, recordedAt}")
    stragglers = _rows("rounds it was late in {executionId, round, nodeId, clientId, phase, seconds, ...}")
    events = _rows("events whose data.clientId is it {id, event, system, severity, timestamp, data, requestId}")
    auditLines = _rows("requests about it {timestamp, method, path, viewName, statusCode, outcome, requestId, "
                       "remoteAddr (its owner's requests only), details}")
    certificates = _rows("client certificates {serial, fingerprint, notBefore, notAfter, issuedAt, revokedAt}")
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="rows stored per section (all)")
    truncated = serializers.ListField(child=serializers.CharField(),
                                      help_text="sections holding more rows than the export's 10,000 per section")
