"""Enumerations of the integration layer."""
from django.db import models

__all__ = ["UnifiedStatus", "StepStatus", "TrainingMode"]


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


class TrainingMode(models.TextChoices):
    """How the training half got its execution; decides what a rollback undoes."""

    START = "start"    # a new execution: rollback stops it
    JOIN = "join"      # a pending or running one: rollback leaves it running
    RESUME = "resume"  # a stopped or failed one, resumed: rollback stops it again
