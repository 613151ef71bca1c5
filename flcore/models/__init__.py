from .certificates import ClientCertificate
from .clients import ClientAssignment, FLClient
from .datasets import TrainingDataset
from .executions import TrainingExecution
from .metrics import PerformanceMetric
from .rounds import AggregatedModel, ClientUpdate, TrainingRound

__all__ = ["FLClient", "ClientAssignment", "TrainingExecution", "TrainingRound", "ClientUpdate",
           "AggregatedModel", "PerformanceMetric", "TrainingDataset", "ClientCertificate"]
