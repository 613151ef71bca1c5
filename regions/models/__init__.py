"""Models of the multi-region app, split by domain."""
from .operations import (AsyncPrediction, Deployment, DeploymentTarget, Failover, ReplicationJob,
                         ReplicationTarget, new_id)
from .regions import ProbeResult, Region
from .registry import ModelVersion, RegisteredModel, Replica, Serving
from .usage import BillingRecord, RequestMetric, UsageRecord

__all__ = ["Region", "ProbeResult", "RegisteredModel", "ModelVersion", "Replica", "Serving",
           "ReplicationJob", "ReplicationTarget", "Deployment", "DeploymentTarget", "Failover",
           "AsyncPrediction", "RequestMetric", "UsageRecord", "BillingRecord", "new_id"]
