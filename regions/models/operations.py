"""Long operations: replications, deployments, failovers, async predictions."""
from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from ..choices import (AsyncStatus, DeploymentStatus, DeploymentStrategy, FailoverStatus, ReplicaStatus,
                       ReplicationStatus, TargetStatus)

__all__ = ["ReplicationJob", "ReplicationTarget", "Deployment", "DeploymentTarget", "Failover",
           "AsyncPrediction", "new_id"]


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


def _repl_id() -> str:
    return new_id("repl")


def _deploy_id() -> str:
    return new_id("deploy")


def _failover_id() -> str:
    return new_id("failover")


def _pred_id() -> str:
    return new_id("pred")


class ReplicationJob(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=_repl_id, editable=False)
    version = models.ForeignKey("regions.ModelVersion", on_delete=models.CASCADE, related_name="replications")
    source_region = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="+")
    verify_checksum = models.BooleanField(default=True)
    status = models.CharField(max_length=16, choices=ReplicationStatus.choices,
                              default=ReplicationStatus.IN_PROGRESS)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "replication job"
        verbose_name_plural = "replication jobs"


class ReplicationTarget(models.Model):
    job = models.ForeignKey(ReplicationJob, on_delete=models.CASCADE, related_name="targets")
    region = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=ReplicaStatus.choices, default=ReplicaStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    bytes_transferred = models.BigIntegerField(default=0)
    duration_seconds = models.FloatField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Bytes an earlier attempt sent that a later one kept instead of sending again.
    resumed_bytes = models.BigIntegerField(default=0)
    # A multipart upload under way (regions/stores/s3.py): its id, part size and the parts that landed.
    transfer_state = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["region__name"]
        verbose_name = "replication target"
        verbose_name_plural = "replication targets"

    @property
    def parts_landed(self) -> int:
        """Parts of its multipart upload that landed (0: a copy that is not multipart)."""
        state = self.transfer_state or {}
        return int(state.get("completedParts", len(state.get("parts") or {})))


class Deployment(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=_deploy_id, editable=False)
    model = models.ForeignKey("regions.RegisteredModel", on_delete=models.CASCADE, related_name="deployments")
    version = models.ForeignKey("regions.ModelVersion", on_delete=models.CASCADE, related_name="+")
    strategy = models.CharField(max_length=16, choices=DeploymentStrategy.choices)
    status = models.CharField(max_length=16, choices=DeploymentStatus.choices, default=DeploymentStatus.IN_PROGRESS)
    rollback_on_failure = models.BooleanField(default=True)
    validation_period_seconds = models.FloatField(default=300)
    canary_percent = models.PositiveSmallIntegerField(default=10)
    max_error_rate = models.FloatField(default=0.05)
    max_latency_ms = models.FloatField(default=1000)
    min_requests = models.PositiveIntegerField(default=1)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    started_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = "model deployment"
        verbose_name_plural = "model deployments"


class DeploymentTarget(models.Model):
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="targets")
    region = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=16, choices=TargetStatus.choices, default=TargetStatus.PENDING)
    previous_version = models.ForeignKey("regions.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL,
                                         related_name="+")
    observed = models.JSONField(default=dict, blank=True)
    validation_started_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position"]
        verbose_name = "deployment target"
        verbose_name_plural = "deployment targets"


class Failover(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=_failover_id, editable=False)
    from_region = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="+")
    to_region = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=200, blank=True)
    automatic = models.BooleanField(default=False)
    drain_timeout_seconds = models.FloatField(default=300)
    status = models.CharField(max_length=16, choices=FailoverStatus.choices, default=FailoverStatus.IN_PROGRESS)
    inflight_at_start = models.IntegerField(null=True, blank=True)
    inflight_at_end = models.IntegerField(null=True, blank=True)
    drained = models.BooleanField(default=False)
    initiated_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    rolled_back_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-initiated_at"]
        verbose_name = "failover"
        verbose_name_plural = "failovers"


class AsyncPrediction(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=_pred_id, editable=False)
    model_name = models.CharField(max_length=128)
    version = models.CharField(max_length=64, blank=True)
    inputs = models.JSONField(default=list)
    parameters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=AsyncStatus.choices, default=AsyncStatus.QUEUED)
    result = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "asynchronous prediction"
        verbose_name_plural = "asynchronous predictions"
