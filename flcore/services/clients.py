"""Client registry: register, report status (heartbeat), assign to executions."""
from __future__ import annotations

from typing import Any

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from fedplane.api.errors import DomainError, ErrorCode
from fedplane.events.services import emit

from ..choices import ClientStatus, ExecutionStatus, Runtime
from ..errors import ClientNotFound, PrivacyViolation
from ..models import ClientAssignment, FLClient, PerformanceMetric
from ..runtime.control import register_node, unregister_node
from ..runtime.credentials import public_key_pem
from .certificates import certificates_revoke
from .executions import execution_get
from .privacy_plan import dp_enabled
from .superlink import superlink_tls

__all__ = ["client_get", "client_register", "client_set_status", "client_assign", "client_unassign",
           "client_revoke", "node_unregister"]

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
    """Register a client. With a `public_key` and FLOWER_NODE_AUTH on, its SuperNode is
    registered on the SuperLink first and the client gets that node's stable id.

    The same machine registering again (same owner, name and public key; not revoked) gets its
    earlier client back, idle, with what it sends now, rather than a second one: a rerun of a
    client (`fedplane-client join`, the demo) lists each machine once. Without a key a client
    cannot be told from another of the same name, so every registration is a new one."""
    capability, location = capability or {}, location or {}
    public_key = _public_key_pem(public_key) if public_key.strip() else ""
    node_id = _register_node(public_key, name, owner) if public_key and settings.FLOWER_NODE_AUTH else ""
    client = _registered_before(owner=owner, name=name, public_key=public_key)
    if client is None:
        client = FLClient.objects.create(
            name=name, owner=owner, capability=capability, compute=capability.get("compute", ""),
            data_profile=data_profile or {}, location=location, region=location.get("region", ""),
            public_key=public_key, node_id=node_id, status=ClientStatus.IDLE, last_seen=timezone.now())
        emit("client.registered", {"clientId": str(client.id), "name": name, "region": client.region})
        return client
    if capability:
        client.capability, client.compute = capability, capability.get("compute", "")
    if data_profile is not None:
        client.data_profile = data_profile
    if location:
        client.location, client.region = location, location.get("region", "")
    # Its earlier SuperNode is gone: the new one reports its node id (with node auth, the same one).
    previous = client.status
    client.node_id, client.status, client.last_seen = node_id, ClientStatus.IDLE, timezone.now()
    client.save()
    emit("client.registered", {"clientId": str(client.id), "name": name, "region": client.region,
                               "reregistered": True})
    if previous == ClientStatus.OFFLINE:
        emit("client.joined", {"clientId": str(client.id), "executionId": _execution_id(client)})
    return client


def _registered_before(*, owner, name: str, public_key: str) -> FLClient | None:
    """The owner's latest client of this name and key that was not revoked; None without a key."""
    if not public_key:
        return None
    return (FLClient.objects.select_for_update()
            .filter(owner=owner, name=name, public_key=public_key).exclude(status=ClientStatus.REVOKED)
            .order_by("-last_seen", "-created_at").first())


@transaction.atomic
def client_set_status(*, client_id, status: str, metadata: dict[str, Any] | None = None) -> FLClient:
    """Status report and heartbeat: updates lastSeen, merges metadata, records system metrics.

    `metadata` may carry `nodeId` (the client's Flower node), `dataProfile`, and
    system readings (`cpu`, `memory`, `network`, `storage`).
    """
    client = client_get(client_id, for_update=True)
    _refuse_if_revoked(client)
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


def _public_key_pem(text: str) -> str:
    try:
        return public_key_pem(text).decode()
    except ValueError as exc:
        raise DomainError(f"publicKey: {exc}", code=ErrorCode.VALIDATION_ERROR, status=422,
                          details={"publicKey": ["An ECDSA P-384 public key, PEM or OpenSSH."]}) from None


def _register_node(public_key: str, name: str, owner) -> str:
    """Register the key on the SuperLink (idempotent: a known key keeps its node id)."""
    try:
        node_id = str(register_node(settings.FLOWER_SUPERLINK_ADDRESS, public_key, name, **superlink_tls()))
    except ValueError as exc:
        raise DomainError(f"publicKey: {exc}", code=ErrorCode.VALIDATION_ERROR, status=422,
                          details={"publicKey": [str(exc)]}) from None
    except (httpx.HTTPError, OSError) as exc:
        raise DomainError("The Flower SuperLink could not register the client's key; try again later.",
                          code=ErrorCode.SERVICE_UNAVAILABLE, status=503,
                          details={"reason": type(exc).__name__}) from exc
    # The same key again is the same machine joining again: its node moves to this
    # registration, unless another account registered that key.
    earlier = FLClient.objects.select_for_update().filter(node_id=node_id)
    if earlier.exclude(owner=owner).exists():
        raise DomainError("This public key belongs to another account's client.", code=ErrorCode.CONFLICT,
                          status=409, details={"nodeId": node_id})
    earlier.update(node_id="")
    return node_id


def _execution_id(client: FLClient) -> str | None:
    return str(client.current_execution_id) if client.current_execution_id else None


def _refuse_if_revoked(client: FLClient) -> None:
    if client.status == ClientStatus.REVOKED:
        raise DomainError(f"Client {client.id} was revoked; register the machine again with a new key.",
                          code=ErrorCode.FORBIDDEN, status=403, details={"clientId": str(client.id)})


def client_revoke(*, client_id) -> FLClient:
    """Cut a client off: its Flower node is unregistered on the SuperLink (offline at once, and
    a SuperNode with its key is refused from now on), its certificates are revoked (refused from
    the next request), its heartbeats are refused, and it leaves its current execution. Its updates
    and metrics stay."""
    client = client_get(client_id)
    _refuse_if_revoked(client)
    node_unregister(client.node_id, refused="the client is not revoked")  # a network call: outside the transaction
    with transaction.atomic():
        client = client_get(client_id, for_update=True)
        previous_node, execution_id = client.node_id, _execution_id(client)
        client.status, client.node_id, client.current_execution = ClientStatus.REVOKED, "", None
        client.save(update_fields=["status", "node_id", "current_execution"])
        certificates = certificates_revoke(client)
        emit("client.revoked", {"clientId": str(client.id), "nodeId": previous_node, "executionId": execution_id,
                                "certificatesRevoked": certificates}, severity="warning")
    return client


def node_unregister(node_id: str, *, refused: str) -> None:
    """Unregister a client's Flower node on the SuperLink (a network call: run it outside any
    transaction). A node unknown to the SuperLink, or unregistered already, is nothing left to
    cut; an unreachable SuperLink is 503, and `refused` says what did not happen."""
    if not node_id:
        return
    try:
        unregister_node(settings.FLOWER_SUPERLINK_ADDRESS, int(node_id), **superlink_tls())
    except ValueError:
        pass
    except (httpx.HTTPError, OSError) as exc:
        raise DomainError(f"The Flower SuperLink could not be reached to unregister the client's node; {refused}. "
                          "Try again.", code=ErrorCode.SERVICE_UNAVAILABLE, status=503,
                          details={"reason": type(exc).__name__}) from exc


def _refuse_if_privacy_fixed(execution) -> None:
    if execution.status in (ExecutionStatus.RUNNING, ExecutionStatus.STOPPING) and dp_enabled(execution):
        raise PrivacyViolation(
            "A running execution with differential privacy keeps the clients it started with: its noise and "
            "accounting assume that population. Stop it, change its clients, then resume it.",
            details={"executionId": str(execution.pk)}, status=409)


@transaction.atomic
def client_assign(*, client_id, execution_id, role: str, config: dict | None = None) -> ClientAssignment:
    """Assign a client; a running execution samples it from its next round."""
    client = client_get(client_id, for_update=True)
    _refuse_if_revoked(client)
    execution = execution_get(execution_id)
    if execution.runtime == Runtime.SIMULATION:
        raise DomainError("A simulation trains virtual clients only; registered clients join deployment executions.",
                          code=ErrorCode.CONFLICT, status=409, details={"executionId": str(execution.pk),
                                                                        "runtime": execution.runtime})
    _refuse_if_privacy_fixed(execution)
    assignment, _ = ClientAssignment.objects.update_or_create(
        execution=execution, client=client, defaults={"role": role, "config": config or {}})
    client.current_execution = execution
    client.save(update_fields=["current_execution"])
    emit("client.assigned", {"clientId": str(client.id), "executionId": str(execution.id), "role": role})
    return assignment


@transaction.atomic
def client_unassign(*, client_id, execution_id) -> bool:
    """Take a client off an execution; a running one stops sampling it from its next round.
    False when it was not assigned."""
    client = client_get(client_id, for_update=True)
    execution = execution_get(execution_id)
    _refuse_if_privacy_fixed(execution)
    removed, _ = ClientAssignment.objects.filter(execution=execution, client=client).delete()
    if client.current_execution_id == execution.pk:
        client.current_execution = None
        if client.status == ClientStatus.TRAINING:
            client.status = ClientStatus.IDLE
        client.save(update_fields=["current_execution", "status"])
    if removed:
        emit("client.unassigned", {"clientId": str(client.id), "executionId": str(execution.id)})
    return bool(removed)
