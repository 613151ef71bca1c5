"""OpenAPI shapes of the multi-region bodies built by the `*_body` functions of
serializers.py and by the config views (documentation only)."""
from __future__ import annotations

from rest_framework import serializers

from ..choices import (AsyncStatus, DeploymentStatus, DeploymentStrategy, FailoverStatus, ReplicaStatus,
                       ReplicationStatus, TargetStatus)

__all__ = ["RegionDeploymentSerializer", "ReplicationSerializer", "FailoverSerializer", "AsyncPredictionSerializer",
           "RegionConfigSerializer", "RegionConfigSetSerializer", "RegionConfigAckedSerializer"]


class RegionDeploymentTargetSerializer(serializers.Serializer):
    region = serializers.CharField()
    status = serializers.ChoiceField(choices=TargetStatus.choices)
    observed = serializers.DictField(help_text="error rate and latency seen while validating")


class RegionDeploymentSerializer(serializers.Serializer):
    deployment_id = serializers.CharField()
    status = serializers.ChoiceField(choices=DeploymentStatus.choices)
    strategy = serializers.ChoiceField(choices=DeploymentStrategy.choices)
    model_id = serializers.CharField()
    version = serializers.CharField()
    deployed_regions = serializers.ListField(child=serializers.CharField())
    failed_regions = serializers.ListField(child=serializers.CharField())
    regions = RegionDeploymentTargetSerializer(many=True)
    rollback_on_failure = serializers.BooleanField()
    validation_period_seconds = serializers.FloatField()
    error = serializers.CharField(allow_blank=True)
    started_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    estimated_completion = serializers.DateTimeField()


class ReplicaResultSerializer(serializers.Serializer):
    region = serializers.CharField()
    status = serializers.ChoiceField(choices=ReplicaStatus.choices)
    bytes_transferred = serializers.IntegerField()
    duration_seconds = serializers.FloatField()
    attempts = serializers.IntegerField()
    sha256 = serializers.CharField(allow_blank=True)
    error = serializers.CharField(allow_blank=True)
    resumed_bytes = serializers.IntegerField(help_text="Bytes an earlier attempt sent that a retry kept.")
    parts = serializers.IntegerField(help_text="Parts of a multipart upload landed so far (0: not multipart).")


class ReplicationSerializer(serializers.Serializer):
    replication_id = serializers.CharField()
    status = serializers.ChoiceField(choices=ReplicationStatus.choices)
    model_id = serializers.CharField()
    version = serializers.CharField()
    source_region = serializers.CharField()
    verify_checksum = serializers.BooleanField()
    target_regions = serializers.ListField(child=serializers.CharField())
    estimated_completion = serializers.DateTimeField()
    results = ReplicaResultSerializer(many=True)


class FailoverSerializer(serializers.Serializer):
    failover_id = serializers.CharField()
    status = serializers.ChoiceField(choices=FailoverStatus.choices)
    from_region = serializers.CharField()
    to_region = serializers.CharField()
    reason = serializers.CharField(allow_blank=True)
    automatic = serializers.BooleanField()
    drain_timeout_seconds = serializers.FloatField()
    drained = serializers.BooleanField()
    inflight_at_start = serializers.IntegerField(allow_null=True)
    inflight_at_end = serializers.IntegerField(allow_null=True)
    initiated_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    rolled_back_at = serializers.DateTimeField(allow_null=True)


class AsyncPredictionSerializer(serializers.Serializer):
    prediction_id = serializers.CharField()
    status = serializers.ChoiceField(choices=AsyncStatus.choices)
    model_id = serializers.CharField()
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    error = serializers.DictField(allow_null=True, help_text="{code, message, details} when it failed")


class RegionConfigSerializer(serializers.Serializer):
    region = serializers.CharField()
    config = serializers.DictField(help_text="free-form")
    config_version = serializers.IntegerField()
    synced_version = serializers.IntegerField()
    in_sync = serializers.BooleanField()


class RegionConfigSetSerializer(serializers.Serializer):
    region = serializers.CharField()
    config_version = serializers.IntegerField()
    in_sync = serializers.BooleanField()


class RegionConfigAckedSerializer(serializers.Serializer):
    region = serializers.CharField()
    synced_version = serializers.IntegerField()
    in_sync = serializers.BooleanField()
