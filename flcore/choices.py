"""Enumerations of the federated-learning domain, one source for models, API and filters."""
from django.db import models

__all__ = ["ExecutionStatus", "Runtime", "Partitioning", "ModelType", "Algorithm", "ClientStatus", "ClientRole", "RoundStatus",
           "WeightingMode", "UpdatePhase", "Compute", "DataQuality"]


class ExecutionStatus(models.TextChoices):
    QUEUED = "queued"  # waiting for a worker slot, in order (the seed's "pending")
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    COMPLETED = "completed"
    FAILED = "failed"


class Runtime(models.TextChoices):
    DEPLOYMENT = "deployment"  # real SuperNodes on a SuperLink
    SIMULATION = "simulation"  # virtual clients on Flower's Simulation Engine (Ray)


class Partitioning(models.TextChoices):
    IID = "iid"
    DIRICHLET = "dirichlet"


class ModelType(models.TextChoices):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"
    CLUSTERING = "clustering"


class Algorithm(models.TextChoices):
    """Built-in strategies (flcore/strategies/catalogue.py); plug-ins come from FLCORE_STRATEGY_PLUGINS."""
    FEDAVG = "fedavg"
    FEDPROX = "fedprox"
    FEDOPT = "fedopt"  # the FedOpt family, config.optimizer picks adam (default), yogi or adagrad
    FEDADAM = "fedadam"
    FEDYOGI = "fedyogi"
    FEDADAGRAD = "fedadagrad"
    FEDAVGM = "fedavgm"
    FEDMEDIAN = "fedmedian"
    FEDTRIMMEDAVG = "fedtrimmedavg"
    KRUM = "krum"
    MULTIKRUM = "multikrum"
    BULYAN = "bulyan"
    QFEDAVG = "qfedavg"


class ClientStatus(models.TextChoices):
    ACTIVE = "active"
    IDLE = "idle"
    TRAINING = "training"
    OFFLINE = "offline"
    REVOKED = "revoked"  # its Flower node unregistered, its heartbeats refused; its history stays


class ClientRole(models.TextChoices):
    TRAINER = "trainer"
    VALIDATOR = "validator"
    AGGREGATOR = "aggregator"


class RoundStatus(models.TextChoices):
    PENDING = "pending"
    COLLECTING = "collecting"
    AGGREGATING = "aggregating"
    COMPLETED = "completed"
    REJECTED = "rejected"
    FAILED = "failed"  # its execution failed while the round ran


class WeightingMode(models.TextChoices):
    UNIFORM = "uniform"
    PROPORTIONAL = "proportional"
    PERFORMANCE = "performance"


class UpdatePhase(models.TextChoices):
    TRAIN = "train"
    EVALUATE = "evaluate"


class Compute(models.TextChoices):
    GPU = "gpu"
    CPU = "cpu"
    MOBILE = "mobile"


class DataQuality(models.TextChoices):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
