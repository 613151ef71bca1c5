"""Typed results of the SDK (dataclasses built from the API's snake_case bodies)."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["PredictionResult", "AsyncPrediction", "ReplicationResult", "ReplicationStatus", "DeploymentStatus",
           "FailoverStatus", "RegionHealth", "Health", "from_body"]


def from_body(cls, body: dict[str, Any]):
    """`cls` from the keys of `body` it knows; unknown keys are kept in `extra` (newer servers add fields)."""
    names = {f.name for f in fields(cls)}
    known = {k: v for k, v in body.items() if k in names}
    obj = cls(**known)
    obj.extra = {k: v for k, v in body.items() if k not in names}
    return obj


@dataclass
class PredictionResult:
    predictions: list[Any]
    model_id: str
    model_version: str
    latency_ms: float
    region: str
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class AsyncPrediction:
    prediction_id: str
    status: str
    model_id: str = ""
    error: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class ReplicationResult:
    region: str
    status: str
    bytes_transferred: int = 0
    duration_seconds: float = 0.0
    attempts: int = 0
    sha256: str = ""
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class ReplicationStatus:
    replication_id: str
    status: str
    target_regions: list[str] = field(default_factory=list)
    estimated_completion: str | None = None
    results: list[ReplicationResult] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.results = [r if isinstance(r, ReplicationResult) else from_body(ReplicationResult, r)
                        for r in self.results]


@dataclass
class DeploymentStatus:
    deployment_id: str
    status: str
    strategy: str = ""
    deployed_regions: list[str] = field(default_factory=list)
    failed_regions: list[str] = field(default_factory=list)
    started_at: str | None = None
    completed_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class FailoverStatus:
    failover_id: str
    status: str
    from_region: str = ""
    to_region: str = ""
    initiated_at: str | None = None
    completed_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class RegionHealth:
    status: str
    latency_ms: float | None = None
    error_rate: float | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Health:
    status: str
    regions: dict[str, RegionHealth] = field(default_factory=dict)
    timestamp: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.regions = {k: v if isinstance(v, RegionHealth) else from_body(RegionHealth, v)
                        for k, v in self.regions.items()}
