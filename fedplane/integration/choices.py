"""Enumerations of the integration layer."""
from django.db import models

__all__ = ["UnifiedStatus", "StepStatus"]


class UnifiedStatus(models.TextChoices):
    PENDING = "pending"
    DEPLOYING = "deploying"      # the federation half is rolling out
    TRAINING = "training"        # the training half is running (or joined)
    COMPLETED = "completed"      # both halves done
    FAILED = "failed"            # a half failed and nothing was undone
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"


class StepStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    UNDONE = "undone"
