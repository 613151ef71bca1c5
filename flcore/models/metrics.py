"""Time series of training and system metrics, for the metrics endpoints and export."""
from __future__ import annotations

from django.db import models
from django.utils import timezone


class PerformanceMetric(models.Model):
    class Kind(models.TextChoices):
        TRAINING = "training"
        SYSTEM = "system"

    class NodeType(models.TextChoices):
        SERVER = "server"
        CLIENT = "client"
        AGGREGATOR = "aggregator"

    execution = models.ForeignKey("flcore.TrainingExecution", null=True, blank=True, on_delete=models.CASCADE,
                                  related_name="performance_metrics")
    client = models.ForeignKey("flcore.FLClient", null=True, blank=True, on_delete=models.CASCADE,
                               related_name="performance_metrics")
    kind = models.CharField(max_length=8, choices=Kind.choices, db_index=True)
    node_type = models.CharField(max_length=10, choices=NodeType.choices, default=NodeType.SERVER)
    name = models.CharField(max_length=64, db_index=True)  # loss, accuracy, cpu, memory, network, storage, ...
    value = models.FloatField()
    round_number = models.PositiveIntegerField(null=True, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["recorded_at", "id"]
        indexes = [models.Index(fields=["execution", "name", "recorded_at"])]
        verbose_name = "performance metric"
        verbose_name_plural = "performance metrics"
