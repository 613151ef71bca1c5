"""Client registry: register, report status (heartbeat), assign to executions."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from fedplane.api.errors import DomainError
from fedplane.events.services import emit

from ..choices import ClientStatus
from ..errors import ClientNotFound
from ..models import ClientAssignment, FLClient, PerformanceMetric
from .executions import execution_get

__all__ = ["client_get", "client_register", "client_set_status", "client_assign"]

SYSTEM_METRICS = ("cpu", "memory", "network", "storage")


def client_get(client_id, *, for_update: bool = False) -> FLClient:
    qs = FLClient.objects.select_for_update() if for_update else FLClient.objects
    try:
        return qs.get(pk=client_id)
    except (FLClient.DoesNotExist, ValueError, TypeError, DjangoValidationError):
        raise ClientNotFound(f"Client {client_id} not found.", details={"clientId": str(client_id)})


@transaction.atomic
def client_register(*, owner, name: str, capability: dict | None = None, data_profile: dict | None = None,
                    location: dict | None = None, public_key: str = "") -> FLClient:
    capability, location = capability or {}, location or {}
    client = FLClient.objects.create(
        name=name, owner=owner, capability=capability, compute=capability.get("compute", ""),
        data_profile=data_profile or {}, location=location, region=location.get("region", ""),
        public_key=public_key, status=ClientStatus.IDLE, last_seen=timezone.now())
    emit("client.registered", {"clientId": str(client.id), "name": name, "region": client.region})
    return client


@transaction.atomic
def client_set_status(*, client_id, status: str, metadata: dict[str, Any] | None = None) -> FLClient:
    """Status report and heartbeat: updates lastSeen, merges metadata, records system metrics.

    `metadata` may carry `nodeId` (the client's Flower node), `dataProfile`, and
    system readings (`cpu`, `memory`, `network`, `storage`).
    """
    client = client_get(client_id, for_update=True)
    metadata = dict(metadata or {})
    previous = client.status
    client.status, client.last_seen = status, timezone.now()
    if "nodeId" in metadata:
        client.node_id = _node_id(metadata.pop("nodeId"))
    if isinstance(metadata.get("dataProfile"), dict):
        client.data_profile = metadata.pop("dataProfile")
    readings = {k: float(metadata.pop(k)) for k in SYSTEM_METRICS if isinstance(metadata.get(k), (int, float))}
    client.metadata = {**client.metadata, **metadata}
    client.save()
    PerformanceMetric.objects.bulk_create([
        PerformanceMetric(client=client, execution=client.current_execution, kind="system", node_type="client",
                          name=name, value=value) for name, value in readings.items()])
    if previous != status and status == ClientStatus.OFFLINE:
        emit("client.left", {"clientId": str(client.id), "executionId": _execution_id(client)})
    elif previous == ClientStatus.OFFLINE and status != ClientStatus.OFFLINE:
        emit("client.joined", {"clientId": str(client.id), "executionId": _execution_id(client)})
    return client


def _node_id(raw) -> str:
    """Flower node ids are unsigned 64-bit integers; stored as their decimal string."""
    text = str(raw)
    if not text.isdigit() or int(text) >= 2**64:
        raise DomainError("metadata.nodeId must be a Flower node id (an unsigned 64-bit integer)",
                          code="VALIDATION_ERROR", status=422, details={"nodeId": text[:40]})
    return str(int(text))


def _execution_id(client: FLClient) -> str | None:
    return str(client.current_execution_id) if client.current_execution_id else None


@transaction.atomic
def client_assign(*, client_id, execution_id, role: str, config: dict | None = None) -> ClientAssignment:
    client = client_get(client_id, for_update=True)
    execution = execution_get(execution_id)
    assignment, _ = ClientAssignment.objects.update_or_create(
        execution=execution, client=client, defaults={"role": role, "config": config or {}})
    client.current_execution = execution
    client.save(update_fields=["current_execution"])
    emit("client.assigned", {"clientId": str(client.id), "executionId": str(execution.id), "role": role})
    return assignment
