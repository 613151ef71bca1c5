"""Shell applications and their runtime configuration."""
from __future__ import annotations

import uuid

from django.db import models

from ..choices import ApplicationStatus, Framework, Health

__all__ = ["Application", "RuntimeConfig"]


class Application(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    host = models.CharField(max_length=500)
    version = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=ApplicationStatus.choices, default=ApplicationStatus.ACTIVE,
                              db_index=True)
    # Stored rather than computed per request so that `sort=health` is an index scan;
    # services.health recomputes it whenever a load or telemetry sample arrives.
    health = models.CharField(max_length=16, choices=Health.choices, default=Health.HEALTHY, db_index=True)
    framework = models.CharField(max_length=16, choices=Framework.choices, db_index=True)
    config = models.JSONField(default=dict, blank=True)
    dependencies = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "application"
        verbose_name_plural = "applications"

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"


class RuntimeConfig(models.Model):
    """What a shell's Module Federation runtime is initialised with (seed: Runtime Configuration)."""

    application = models.OneToOneField(Application, on_delete=models.CASCADE, primary_key=True,
                                       related_name="runtime_config")
    public_path = models.CharField(max_length=500, default="auto")
    chunk_load_timeout = models.PositiveIntegerField(default=120_000)  # ms, webpack's output.chunkLoadTimeout
    # Extra remotes not registered as modules, {name: entry URL}; registered modules are added.
    remotes = models.JSONField(default=dict, blank=True)
    # Per-package share config overrides, {package: {singleton, requiredVersion, ...}}.
    shared = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "runtime configuration"
        verbose_name_plural = "runtime configurations"

    def __str__(self) -> str:
        return f"runtime config of {self.application_id}"
