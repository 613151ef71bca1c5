"""Deployments, what each environment serves, and the precomputed shell configuration."""
from __future__ import annotations

import uuid

from django.db import models

from ..choices import DeploymentStatus, DeploymentStrategy, Environment
from .applications import Application
from .modules import RemoteModule

__all__ = ["Deployment", "ModuleRelease", "ShellSnapshot"]


class Deployment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="deployments")
    environment = models.CharField(max_length=16, choices=Environment.choices)
    strategy = models.CharField(max_length=16, choices=DeploymentStrategy.choices)
    status = models.CharField(max_length=16, choices=DeploymentStatus.choices, db_index=True)
    # {moduleId: {"name", "url", "version", "previousUrl", "previousVersion"}}
    targets = models.JSONField(default=dict)
    steps = models.JSONField(default=list)  # traffic percentages, ascending, last is 100
    step_index = models.PositiveSmallIntegerField(default=0)
    traffic_percent = models.PositiveSmallIntegerField(default=0)
    # {"errorRate": 0.05, "loadTimeMs": 3000, "minSamples": 20, "autoPromote": true}
    thresholds = models.JSONField(default=dict)
    config = models.JSONField(default=dict, blank=True)
    transitions = models.JSONField(default=list)  # [{"from", "to", "at", "reason"}]
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    step_started_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "module deployment"
        verbose_name_plural = "module deployments"


class ModuleRelease(models.Model):
    """The URL and version an environment serves for a module to every (non-canary) shell."""

    module = models.ForeignKey(RemoteModule, on_delete=models.CASCADE, related_name="releases")
    environment = models.CharField(max_length=16, choices=Environment.choices)
    url = models.URLField(max_length=1000)
    version = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["module", "environment"], name="uniq_release_per_env")]
        verbose_name = "module release"
        verbose_name_plural = "module releases"


class ShellSnapshot(models.Model):
    """The public shell configuration of one application in one environment, rendered at
    write time so that the endpoint on every page load is one indexed read and a hash compare."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="snapshots")
    application_name = models.CharField(max_length=100)
    environment = models.CharField(max_length=16, choices=Environment.choices)
    stable_body = models.BinaryField()
    stable_etag = models.CharField(max_length=80)
    canary_body = models.BinaryField(null=True)
    canary_etag = models.CharField(max_length=80, blank=True)
    canary_percent = models.PositiveSmallIntegerField(default=0)
    canary_salt = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["application", "environment"], name="uniq_snapshot_env")]
        indexes = [models.Index(fields=["application_name", "environment"])]
        verbose_name = "shell snapshot"
        verbose_name_plural = "shell snapshots"
