"""Allowed state transitions of replicas, deployments and failovers, enforced in one place.

`move` checks the table, saves the new status and writes the event in the caller's
transaction, so an observer never sees a state change without its event.
"""
from __future__ import annotations

from typing import Any

from fedplane.events.services import emit

from ..choices import DeploymentStatus, FailoverStatus, ReplicaStatus
from ..errors import InvalidTransition

__all__ = ["move", "ALLOWED"]

_R, _D, _F = ReplicaStatus, DeploymentStatus, FailoverStatus
ALLOWED: dict[str, dict[str, set[str]]] = {
    "replication_target": {
        _R.PENDING: {_R.IN_PROGRESS, _R.FAILED},
        _R.IN_PROGRESS: {_R.IN_PROGRESS, _R.COMPLETED, _R.FAILED},  # in_progress -> in_progress: a retry
        _R.FAILED: {_R.IN_PROGRESS},  # a new job retries a failed target
        _R.COMPLETED: {_R.ROLLED_BACK},
        _R.ROLLED_BACK: set(),
    },
    "deployment": {
        _D.IN_PROGRESS: {_D.VALIDATING, _D.COMPLETED, _D.FAILED, _D.ROLLED_BACK},
        _D.VALIDATING: {_D.IN_PROGRESS, _D.COMPLETED, _D.FAILED, _D.ROLLED_BACK},
        _D.COMPLETED: {_D.ROLLED_BACK},
        _D.FAILED: {_D.ROLLED_BACK},
        _D.ROLLED_BACK: set(),
    },
    "failover": {
        _F.IN_PROGRESS: {_F.COMPLETED, _F.FAILED, _F.ROLLED_BACK},
        _F.COMPLETED: {_F.ROLLED_BACK},
        _F.FAILED: {_F.ROLLED_BACK},
        _F.ROLLED_BACK: set(),
    },
}


def move(kind: str, obj: Any, status: str, *, event: str | None = None, data: dict | None = None,
         fields: tuple[str, ...] = (), severity: str | None = None) -> Any:
    """Set `obj.status` to `status` if the table allows it; save; emit `event`."""
    current = obj.status
    if status not in ALLOWED[kind].get(current, set()):
        raise InvalidTransition(f"A {kind.replace('_', ' ')} cannot go from {current} to {status}.",
                                details={"from": current, "to": status})
    obj.status = status
    obj.save(update_fields=["status", *fields])
    if event:
        emit(event, {"status": status, **(data or {})}, severity=severity)
    return obj
