"""Enumerations of the multi-region domain: one source for models, serializers and filters."""
from django.db import models

__all__ = ["RoutingStatus", "HealthStatus", "ArtifactFormat", "ReplicaStatus", "ReplicationStatus",
           "DeploymentStrategy", "DeploymentStatus", "TargetStatus", "FailoverStatus", "ResourceType",
           "AsyncStatus"]


class RoutingStatus(models.TextChoices):
    """Whether the router sends a region new traffic (set by failover, not by probes)."""

    ACTIVE = "active"
    DRAINING = "draining"
    FAILED_OVER = "failed_over"


class HealthStatus(models.TextChoices):
    UNKNOWN = "unknown"
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    DOWN = "down"


class ArtifactFormat(models.TextChoices):
    TORCH_STATE_DICT = "torch_state_dict"
    TORCHSCRIPT = "torchscript"
    ONNX = "onnx"


class ReplicaStatus(models.TextChoices):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"


class ReplicationStatus(models.TextChoices):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    PARTIAL = "partial"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"


class DeploymentStrategy(models.TextChoices):
    ROLLING = "rolling"
    BLUE_GREEN = "blue_green"
    CANARY = "canary"


class DeploymentStatus(models.TextChoices):
    IN_PROGRESS = "in_progress"
    VALIDATING = "validating"
    COMPLETED = "completed"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"


class TargetStatus(models.TextChoices):
    PENDING = "pending"
    DEPLOYING = "deploying"
    VALIDATING = "validating"
    DEPLOYED = "deployed"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"


class FailoverStatus(models.TextChoices):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"


class ResourceType(models.TextChoices):
    COMPUTE = "compute"
    STORAGE = "storage"
    NETWORK = "network"
    TRAINING = "training"
    DATABASE = "database"
    OTHER = "other"


class AsyncStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
