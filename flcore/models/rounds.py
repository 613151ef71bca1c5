"""Rounds, the client updates they receive, and the aggregated model each produces."""
from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from ..choices import RoundStatus, UpdatePhase


class TrainingRound(models.Model):
    execution = models.ForeignKey("flcore.TrainingExecution", on_delete=models.CASCADE, related_name="rounds")
    round_number = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=RoundStatus.choices, default=RoundStatus.PENDING)
    accepted = models.BooleanField(default=True)  # false: failed validation, previous model kept
    flower_run_id = models.CharField(max_length=20, blank=True)  # uint64
    metrics = models.JSONField(default=dict, blank=True)  # {"train": {...}, "evaluate": {...}, "privacy": {...}}
    timings = models.JSONField(default=dict, blank=True)  # seconds per phase
    lost_node_ids = models.JSONField(default=list, blank=True)
    # [{nodeId, clientId, partitionId, phase, seconds, lateBySeconds, timedOut}]
    stragglers = models.JSONField(default=list, blank=True)
    # the round settings that applied: roundTimeoutSeconds, minResponders, acceptedFailureFraction
    settings = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["execution", "round_number"]
        constraints = [models.UniqueConstraint(fields=["execution", "round_number"], name="one_round_number")]
        verbose_name = "training round"
        verbose_name_plural = "training rounds"

    def __str__(self) -> str:
        return f"round {self.round_number} of {self.execution_id}"


class ClientUpdate(models.Model):
    round = models.ForeignKey(TrainingRound, on_delete=models.CASCADE, related_name="updates")
    client = models.ForeignKey("flcore.FLClient", null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="updates")
    node_id = models.CharField(max_length=20)  # Flower node ids are uint64
    partition_id = models.PositiveIntegerField(null=True, blank=True)  # a simulation's virtual client
    phase = models.CharField(max_length=8, choices=UpdatePhase.choices)
    num_examples = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    duration_seconds = models.FloatField(default=0)
    error = models.TextField(blank=True)
    rejection = models.TextField(blank=True)  # why the server kept this update out of the aggregate
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["round", "phase", "node_id"]
        verbose_name = "client update"
        verbose_name_plural = "client updates"


class AggregatedModel(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    execution = models.ForeignKey("flcore.TrainingExecution", on_delete=models.CASCADE,
                                  related_name="aggregated_models")
    round = models.OneToOneField(TrainingRound, on_delete=models.CASCADE, related_name="aggregated_model")
    round_number = models.PositiveIntegerField()
    algorithm = models.CharField(max_length=64)
    performance = models.JSONField(default=dict, blank=True)
    artifact_path = models.CharField(max_length=500)  # relative to FEDPLANE_ARTIFACT_ROOT
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    strategy_state_path = models.CharField(max_length=500, blank=True)  # FedOpt optimiser state
    metadata = models.JSONField(default=dict, blank=True)  # model spec, tensor names/shapes/dtypes
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["execution", "round_number"]
        verbose_name = "aggregated model"
        verbose_name_plural = "aggregated models"
