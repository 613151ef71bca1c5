"""Unified deployments and the seed's cross-system relations.

The seed's "Cross-System Relationships" hold here, so that flcore, federation_registry
and regions keep knowing nothing of each other:

- Application ||--o{ TrainingExecution : triggers        -> TriggeredExecution
- RemoteModule ||--o{ FLClient : deployed-to             -> ModuleClientDeployment
- Deployment ||--|| TrainingRound : coordinates          -> UnifiedDeployment.coordinated_round
- SharedDependency ||--o{ AggregatedModel : required-by  -> ModelRequirement
"""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from federation_registry.choices import Environment

from .choices import TrainingMode, UnifiedStatus

__all__ = ["UnifiedDeployment", "TriggeredExecution", "ModuleClientDeployment", "ModelRequirement"]


class UnifiedDeployment(models.Model):
    """One `POST /integration/deploy`: an application's modules plus a federated training."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    environment = models.CharField(max_length=16, choices=Environment.choices)
    status = models.CharField(max_length=16, choices=UnifiedStatus.choices, default=UnifiedStatus.PENDING,
                              db_index=True)
    application = models.ForeignKey("federation_registry.Application", null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="unified_deployments")
    modules = models.ManyToManyField("federation_registry.RemoteModule", blank=True, related_name="+")
    federation_deployment = models.ForeignKey("federation_registry.Deployment", null=True, blank=True,
                                              on_delete=models.SET_NULL, related_name="+")
    execution = models.ForeignKey("flcore.TrainingExecution", null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="unified_deployments")
    # True when this deployment started the execution (rollback stops it); False when it joined one.
    started_execution = models.BooleanField(default=False)
    training_mode = models.CharField(max_length=8, choices=TrainingMode.choices, blank=True)
    # The round the deployment coordinates with: the execution's next round when the training half began.
    first_round = models.PositiveIntegerField(null=True, blank=True)
    clients = models.ManyToManyField("flcore.FLClient", blank=True, related_name="+")
    coordinated_round = models.OneToOneField("flcore.TrainingRound", null=True, blank=True,
                                             on_delete=models.SET_NULL, related_name="coordinating_deployment")
    sync_deployment = models.BooleanField(default=True)
    rollback_on_failure = models.BooleanField(default=True)
    request = models.JSONField(default=dict, blank=True)  # the body as received, for the record
    # [{"name": "federation"|"training"|"rollback:...", "status": StepStatus, "at", "detail"}]
    steps = models.JSONField(default=list, blank=True)
    error_code = models.CharField(max_length=16, blank=True)
    error_message = models.TextField(blank=True)
    celery_task_id = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "unified deployment"
        verbose_name_plural = "unified deployments"

    def __str__(self) -> str:
        return f"unified {self.pk} ({self.status})"


class TriggeredExecution(models.Model):
    """An application triggered a training execution."""

    application = models.ForeignKey("federation_registry.Application", on_delete=models.CASCADE,
                                    related_name="triggered_executions")
    execution = models.ForeignKey("flcore.TrainingExecution", on_delete=models.CASCADE, related_name="triggered_by")
    deployment = models.ForeignKey(UnifiedDeployment, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["application", "execution"], name="integration_uniq_trigger")]
        verbose_name = "triggered execution"
        verbose_name_plural = "triggered executions"


class ModuleClientDeployment(models.Model):
    """A remote module deployed to a federated-learning client (the UI its site runs)."""

    module = models.ForeignKey("federation_registry.RemoteModule", on_delete=models.CASCADE,
                               related_name="client_deployments")
    client = models.ForeignKey("flcore.FLClient", on_delete=models.CASCADE, related_name="module_deployments")
    environment = models.CharField(max_length=16, choices=Environment.choices)
    version = models.CharField(max_length=64, blank=True)
    deployment = models.ForeignKey(UnifiedDeployment, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="module_client_deployments")
    deployed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["module", "client", "environment"],
                                               name="integration_uniq_module_client")]
        verbose_name = "module deployed to a client"
        verbose_name_plural = "modules deployed to clients"


class ModelRequirement(models.Model):
    """An aggregated model needs this shared dependency in the shells that use it."""

    dependency = models.ForeignKey("federation_registry.SharedDependency", on_delete=models.CASCADE,
                                   related_name="required_by_models")
    aggregated_model = models.ForeignKey("flcore.AggregatedModel", on_delete=models.CASCADE,
                                         related_name="requirements")
    deployment = models.ForeignKey(UnifiedDeployment, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dependency", "aggregated_model"],
                                               name="integration_uniq_requirement")]
        verbose_name = "model requirement"
        verbose_name_plural = "model requirements"
