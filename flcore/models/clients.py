"""FL clients (each a Flower SuperNode) and their assignments to executions."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from ..choices import ClientRole, ClientStatus


class FLClient(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=ClientStatus.choices, default=ClientStatus.IDLE, db_index=True)
    capability = models.JSONField(default=dict, blank=True)  # {compute, memory, bandwidth}
    compute = models.CharField(max_length=8, blank=True, db_index=True)  # mirrors capability.compute for filters
    data_profile = models.JSONField(default=dict, blank=True)  # {samples, distribution, quality}
    location = models.JSONField(default=dict, blank=True)  # {region, zone}
    region = models.CharField(max_length=64, blank=True, db_index=True)
    current_execution = models.ForeignKey("flcore.TrainingExecution", null=True, blank=True,
                                          on_delete=models.SET_NULL, related_name="current_clients")
    performance = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    node_id = models.CharField(max_length=20, blank=True, db_index=True)  # Flower node id (uint64) once seen
    public_key = models.TextField(blank=True)  # PEM, for Flower node authentication
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    last_seen = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "created_at"]
        verbose_name = "FL client"
        verbose_name_plural = "FL clients"

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"


class ClientAssignment(models.Model):
    execution = models.ForeignKey("flcore.TrainingExecution", on_delete=models.CASCADE, related_name="assignments")
    client = models.ForeignKey(FLClient, on_delete=models.CASCADE, related_name="assignments")
    role = models.CharField(max_length=12, choices=ClientRole.choices, default=ClientRole.TRAINER)
    config = models.JSONField(default=dict, blank=True)
    assigned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["execution", "client"], name="one_assignment_per_client")]
        verbose_name = "client assignment"
        verbose_name_plural = "client assignments"
