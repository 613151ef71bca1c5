"""A training execution: one federated training, run as one or more Flower runs."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from ..choices import Algorithm, ExecutionStatus, ModelType, Runtime


class TrainingExecution(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=10, choices=ExecutionStatus.choices, default=ExecutionStatus.QUEUED,
                              db_index=True)
    runtime = models.CharField(max_length=12, choices=Runtime.choices, default=Runtime.DEPLOYMENT)
    model_type = models.CharField(max_length=16, choices=ModelType.choices, db_index=True)
    algorithm = models.CharField(max_length=64, default=Algorithm.FEDAVG)
    # rounds, minClients, clientFraction, localEpochs, batchSize, learningRate, model, ...
    config = models.JSONField(default=dict)
    privacy_config = models.JSONField(default=dict, blank=True)
    # strategy options, weights (uniform|proportional|performance), validation {enabled, threshold, metrics}
    aggregation_config = models.JSONField(default=dict, blank=True)
    # simulation: Flower's backend config (client resources) and how the dataset was split
    backend_config = models.JSONField(default=dict, blank=True)
    data_partitioning = models.JSONField(default=dict, blank=True)
    current_round = models.PositiveIntegerField(default=0)
    total_rounds = models.PositiveIntegerField()
    participating_clients = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)  # latest loss/accuracy, privacy spent, ...
    privacy_ledger = models.JSONField(default=dict, blank=True)
    error_code = models.CharField(max_length=16, blank=True)
    error_message = models.TextField(blank=True)
    error_details = models.JSONField(default=dict, blank=True)  # e.g. nodeErrors: each node's Flower error reply
    stop_requested = models.BooleanField(default=False)
    stop_reason = models.CharField(max_length=500, blank=True)
    save_checkpoint_on_stop = models.BooleanField(default=True)
    resume_from_round = models.PositiveIntegerField(null=True, blank=True)
    flower_run_id = models.CharField(max_length=20, blank=True)  # uint64
    superlink_address = models.CharField(max_length=255, blank=True)
    celery_task_id = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)  # claims by a worker, ever
    # Takeovers after a lost worker since a round last completed (FLCORE_MAX_ATTEMPTS bounds it).
    losses_in_a_row = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    queued_at = models.DateTimeField(null=True, blank=True, db_index=True)  # last enqueued: the queue's order
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "training execution"
        verbose_name_plural = "training executions"

    def __str__(self) -> str:
        return f"{self.algorithm} {self.model_type} {str(self.id)[:8]} ({self.status})"

    @property
    def min_clients(self) -> int:
        return int(self.config.get("minClients", 1))
