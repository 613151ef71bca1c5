"""Model registry: models, versions (one artifact each), replicas per region, what each region serves."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from ..choices import ArtifactFormat, ReplicaStatus

__all__ = ["RegisteredModel", "ModelVersion", "Replica", "Serving"]


class RegisteredModel(models.Model):
    name = models.SlugField(max_length=128, unique=True, help_text="The seed's model_id.")
    description = models.TextField(blank=True)
    # Adaptive batching (services/batching.py): concurrent requests of up to this many rows in all are
    # run as one batch; 1 turns it off. A batch waits at most batch_max_latency_ms for rows to join it.
    batch_max_size = models.PositiveIntegerField(default=1)
    batch_max_latency_ms = models.FloatField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name = "registered model"
        verbose_name_plural = "registered models"

    def __str__(self) -> str:
        return self.name


class ModelVersion(models.Model):
    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=64)
    format = models.CharField(max_length=24, choices=ArtifactFormat.choices)
    # Layer list that rebuilds the module for a state dict (see services/loading.py).
    architecture = models.JSONField(default=list, blank=True)
    input_schema = models.JSONField(default=dict, blank=True, help_text='{"shape": [-1, 4], "dtype": "float32"}')
    home_region = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="+")
    artifact_key = models.CharField(max_length=500, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    source = models.JSONField(default=dict, blank=True, help_text="Where it came from (an aggregated model).")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["model", "-created_at"]
        constraints = [models.UniqueConstraint(fields=["model", "version"], name="regions_unique_version")]
        verbose_name = "model version"
        verbose_name_plural = "model versions"

    def __str__(self) -> str:
        return f"{self.model.name}:{self.version}"

    @property
    def has_artifact(self) -> bool:
        return bool(self.sha256)


class Replica(models.Model):
    """A version's artifact in one region's store; `completed` only once its sha256 was verified."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="replicas")
    region = models.ForeignKey("regions.Region", on_delete=models.CASCADE, related_name="replicas")
    status = models.CharField(max_length=16, choices=ReplicaStatus.choices, default=ReplicaStatus.PENDING)
    sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    stored_since = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "region"], name="regions_unique_replica")]
        verbose_name = "replica"
        verbose_name_plural = "replicas"


class Serving(models.Model):
    """Which version of a model a region answers with, and a canary share of another one."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="servings")
    region = models.ForeignKey("regions.Region", on_delete=models.CASCADE, related_name="servings")
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+")
    canary_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="+")
    canary_percent = models.PositiveSmallIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model", "region"], name="regions_unique_serving")]
        verbose_name = "served version"
        verbose_name_plural = "served versions"
