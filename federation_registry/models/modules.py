"""Remote modules, the history of their URL/version, and their load metrics."""
from __future__ import annotations

import uuid

from django.db import models

from ..choices import MetricKind, ModuleStatus
from .applications import Application

__all__ = ["RemoteModule", "ModuleVersion", "ModuleMetric"]


class RemoteModule(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="modules")
    # The container name (the remote's `name` in ModuleFederationPlugin / the manifest's `name`).
    name = models.CharField(max_length=100, db_index=True)
    url = models.URLField(max_length=1000)
    manifest_url = models.URLField(max_length=1000, blank=True)
    version = models.CharField(max_length=64, default="0.0.0")
    exposed_modules = models.JSONField(default=list, blank=True)
    dependencies = models.JSONField(default=dict, blank=True)  # {package: requiredVersion}
    # Remotes this remote itself loads (the dependency graph; a cycle is refused, MF008).
    consumes = models.ManyToManyField("self", symmetrical=False, related_name="consumed_by", blank=True)
    status = models.CharField(max_length=16, choices=ModuleStatus.choices, default=ModuleStatus.ACTIVE,
                              db_index=True)
    load_time = models.FloatField(default=0)  # ms, last measured
    size = models.PositiveBigIntegerField(default=0)  # bytes, last measured
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    last_updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["application", "name"], name="uniq_module_name_per_app")]
        verbose_name = "remote module"
        verbose_name_plural = "remote modules"

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"


class ModuleVersion(models.Model):
    """One row per change of a module's URL or version, oldest first."""

    module = models.ForeignKey(RemoteModule, on_delete=models.CASCADE, related_name="history")
    url = models.URLField(max_length=1000)
    version = models.CharField(max_length=64)
    change = models.CharField(max_length=16)  # registered | updated
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "module version"
        verbose_name_plural = "module versions"


class ModuleMetric(models.Model):
    module = models.ForeignKey(RemoteModule, on_delete=models.CASCADE, related_name="metrics")
    kind = models.CharField(max_length=16, choices=MetricKind.choices)
    load_time = models.FloatField(null=True)  # ms
    size = models.PositiveBigIntegerField(null=True)  # bytes
    success = models.BooleanField()
    error_code = models.CharField(max_length=16, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    client_id = models.CharField(max_length=200, blank=True)
    deployment = models.ForeignKey("federation_registry.Deployment", null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="metrics")
    variant = models.CharField(max_length=8, blank=True)  # stable | canary
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["module", "created_at"])]
        verbose_name = "module metric"
        verbose_name_plural = "module metrics"
