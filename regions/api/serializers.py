"""Request parsing and response shapes of the multi-region API (snake_case, as seed 004 speaks)."""
from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from decimal import Decimal

from rest_framework import serializers

from ..choices import ArtifactFormat, DeploymentStrategy
from ..models import (AsyncPrediction, Deployment, Failover, ModelVersion, RegisteredModel, Region,
                      ReplicationJob)
from ..services.replication import estimated_completion

__all__ = ["PriceCardSerializer", "RegionSerializer", "RegionWriteSerializer", "ModelSerializer",
           "ModelCreateSerializer", "ModelUpdateSerializer", "BatchingSerializer", "VersionSerializer",
           "VersionCreateSerializer", "PromoteSerializer",
           "PredictSerializer", "ReplicationRequestSerializer", "replication_body", "DeploymentRequestSerializer",
           "deployment_body", "FailoverRequestSerializer", "failover_body", "async_body", "ConfigSerializer",
           "ConfigAckSerializer"]

_PRICE_PLACES = Decimal("1e-8")
_PRICE = serializers.DecimalField(max_digits=14, decimal_places=8, min_value=0, required=False)


class PriceCardSerializer(serializers.Serializer):
    currency = serializers.CharField(max_length=3, required=False)
    compute_second = _PRICE
    storage_gb_month = serializers.DecimalField(max_digits=14, decimal_places=8, min_value=0, required=False)
    network_gb = serializers.DecimalField(max_digits=14, decimal_places=8, min_value=0, required=False)
    training_second = serializers.DecimalField(max_digits=14, decimal_places=8, min_value=0, required=False)


class RegionSerializer(serializers.ModelSerializer):
    price_card = serializers.SerializerMethodField()

    class Meta:
        model = Region
        fields = ["name", "endpoint", "store_url", "priority", "price_card", "routing_status", "health_status",
                  "consecutive_failures", "last_latency_ms", "last_error_rate", "last_probe_at", "config_version",
                  "config_synced_version", "created_at"]

    def get_price_card(self, obj: Region) -> dict:
        # Fixed point at the column's 8 places: str() of a zero read back from the database is "0E-8".
        return {k: (f"{Decimal(v).quantize(_PRICE_PLACES):f}" if k != "currency" else v)
                for k, v in obj.price_card().items()}


class RegionWriteSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=64)
    endpoint = serializers.URLField(required=False, allow_blank=True, default="")
    # Absent: a folder under REGIONS_STORE_ROOT. "" is refused (it was the server's working directory).
    store_url = serializers.CharField(required=False, max_length=500)
    priority = serializers.IntegerField(required=False, default=100, min_value=-(2**31), max_value=2**31 - 1)
    price_card = PriceCardSerializer(required=False)


class ConfigSerializer(serializers.Serializer):
    config = serializers.DictField()


class ConfigAckSerializer(serializers.Serializer):
    # The range of Region.config_version (a positive integer column); 0 acknowledges nothing.
    config_version = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False, default=0)


class BatchingSerializer(serializers.Serializer):
    """Adaptive batching: concurrent requests for the model, up to max_batch_size rows in all, run as one
    batch, which waits at most max_latency_ms for rows to join it. max_batch_size 1 (the default) is off."""

    max_batch_size = serializers.IntegerField(source="batch_max_size", min_value=1, max_value=4096, required=False)
    max_latency_ms = serializers.FloatField(source="batch_max_latency_ms", min_value=0, max_value=10000,
                                            required=False)


class ModelSerializer(serializers.ModelSerializer):
    model_id = serializers.CharField(source="name")
    versions = serializers.SlugRelatedField(many=True, read_only=True, slug_field="version")
    batching = BatchingSerializer(source="*", read_only=True)

    class Meta:
        model = RegisteredModel
        fields = ["model_id", "description", "batching", "versions", "created_at"]


class ModelCreateSerializer(serializers.Serializer):
    model_id = serializers.SlugField(max_length=128)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    batching = BatchingSerializer(required=False, default=dict)


class ModelUpdateSerializer(serializers.Serializer):
    description = serializers.CharField(required=False, allow_blank=True)
    batching = BatchingSerializer(required=False)


class VersionSerializer(serializers.ModelSerializer):
    model_id = serializers.CharField(source="model.name")
    home_region = serializers.CharField(source="home_region.name")
    regions = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = ["model_id", "version", "format", "architecture", "input_schema", "home_region", "artifact_key",
                  "sha256", "size_bytes", "source", "regions", "created_at"]

    def get_regions(self, obj: ModelVersion) -> dict[str, str]:
        return {r.region.name: r.status for r in obj.replicas.select_related("region")}


class VersionCreateSerializer(serializers.Serializer):
    version = serializers.CharField(max_length=64)
    format = serializers.ChoiceField(ArtifactFormat.choices)
    region = serializers.SlugField()
    architecture = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    input_schema = serializers.DictField(required=False, default=dict)
    artifact_base64 = serializers.CharField(required=False)
    artifact_key = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)

    def validate_artifact_base64(self, value: str) -> bytes:
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise serializers.ValidationError("not valid base64") from None

    def validate_input_schema(self, value: dict) -> dict:
        shape = value.get("shape", [])
        if not isinstance(shape, list) or not all(isinstance(d, int) for d in shape):
            raise serializers.ValidationError("shape must be a list of integers (-1 for any size)")
        return value


class PromoteSerializer(serializers.Serializer):
    version = serializers.CharField(max_length=64)
    aggregated_model_id = serializers.CharField()
    region = serializers.SlugField()


class _PredictParameters(serializers.Serializer):
    batch_size = serializers.IntegerField(min_value=1, max_value=100000, required=False)
    timeout_ms = serializers.FloatField(min_value=1, max_value=600000, required=False)
    version = serializers.CharField(required=False, max_length=64)


class _Rows(serializers.ListField):
    """A non-empty list taken as is: as_batch checks it against the model's schema. ListField's own
    walk ran every row through a child field (~0.3 ms for a batch of 64)."""

    def to_internal_value(self, data):
        if isinstance(data, (str, Mapping)) or not hasattr(data, "__iter__"):
            self.fail("not_a_list", input_type=type(data).__name__)
        if not self.allow_empty and len(data) == 0:
            self.fail("empty")
        return data if isinstance(data, list) else list(data)


class PredictSerializer(serializers.Serializer):
    inputs = _Rows(allow_empty=False)
    parameters = _PredictParameters(required=False, default=dict)


class ReplicationRequestSerializer(serializers.Serializer):
    model_id = serializers.CharField()
    version = serializers.CharField(required=False)
    source_region = serializers.SlugField()
    target_regions = serializers.ListField(child=serializers.SlugField(), allow_empty=False)
    verify_checksum = serializers.BooleanField(default=True)


def replication_body(job: ReplicationJob) -> dict:
    return {"replication_id": job.id, "status": job.status, "model_id": job.version.model.name,
            "version": job.version.version, "source_region": job.source_region.name,
            "verify_checksum": job.verify_checksum,
            "target_regions": [t.region.name for t in job.targets.select_related("region")],
            "estimated_completion": estimated_completion(job),
            "results": [{"region": t.region.name, "status": t.status, "bytes_transferred": t.bytes_transferred,
                         "duration_seconds": round(t.duration_seconds, 6), "attempts": t.attempts,
                         "sha256": t.sha256, "error": t.error, "resumed_bytes": t.resumed_bytes,
                         "parts": t.parts_landed} for t in job.targets.select_related("region")]}


class DeploymentRequestSerializer(serializers.Serializer):
    model_id = serializers.CharField()
    version = serializers.CharField()
    strategy = serializers.ChoiceField(DeploymentStrategy.choices, default=DeploymentStrategy.ROLLING)
    regions = serializers.ListField(child=serializers.SlugField(), allow_empty=False)
    rollback_on_failure = serializers.BooleanField(default=True)
    validation_period_seconds = serializers.FloatField(min_value=0, max_value=86400, default=300)
    canary_percent = serializers.IntegerField(min_value=1, max_value=100, default=10)
    max_error_rate = serializers.FloatField(min_value=0, max_value=1, default=0.05)
    max_latency_ms = serializers.FloatField(min_value=0, default=1000)


def deployment_body(d: Deployment) -> dict:
    targets = list(d.targets.select_related("region"))
    done = d.completed_at
    return {"deployment_id": d.id, "status": d.status, "strategy": d.strategy, "model_id": d.model.name,
            "version": d.version.version, "deployed_regions": [t.region.name for t in targets if t.status == "deployed"],
            "failed_regions": [t.region.name for t in targets if t.status == "failed"],
            "regions": [{"region": t.region.name, "status": t.status, "observed": t.observed} for t in targets],
            "rollback_on_failure": d.rollback_on_failure, "validation_period_seconds": d.validation_period_seconds,
            "error": d.error, "started_at": d.started_at, "completed_at": done,
            "estimated_completion": done or _estimate(d, len(targets))}


def _estimate(d: Deployment, regions: int):
    from datetime import timedelta

    rounds = regions if d.strategy == DeploymentStrategy.ROLLING else 1
    return d.started_at + timedelta(seconds=d.validation_period_seconds * rounds)


class FailoverRequestSerializer(serializers.Serializer):
    from_region = serializers.SlugField()
    to_region = serializers.SlugField()
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    drain_timeout_seconds = serializers.FloatField(min_value=0, max_value=3600, default=300)


def failover_body(f: Failover) -> dict:
    return {"failover_id": f.id, "status": f.status, "from_region": f.from_region.name,
            "to_region": f.to_region.name, "reason": f.reason, "automatic": f.automatic,
            "drain_timeout_seconds": f.drain_timeout_seconds, "drained": f.drained,
            "inflight_at_start": f.inflight_at_start, "inflight_at_end": f.inflight_at_end,
            "initiated_at": f.initiated_at, "completed_at": f.completed_at, "rolled_back_at": f.rolled_back_at}


def async_body(p: AsyncPrediction) -> dict:
    return {"prediction_id": p.id, "status": p.status, "model_id": p.model_name, "created_at": p.created_at,
            "completed_at": p.completed_at, "error": p.error}
