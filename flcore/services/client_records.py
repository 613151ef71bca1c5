"""A client's personal records: erase them (purge) or hand them over (export), for GDPR/CCPA.

What counts as the client's: its record (name, capability, data profile, location, metadata,
public key, Flower node), its assignments, its system telemetry (heartbeat readings), its
updates' metrics, error and rejection texts, the events that name it, and the audit lines of
requests about it. What stays after a purge: the rounds and aggregated models it contributed
to, each of its updates as an anonymous stub (round, phase, examples, duration: the aggregate's
own weights and participation counts stay right), and the audit log. Updates keep no arrays:
only the aggregated models' arrays are stored.

Its certificates are its records too: erased (the rows deleted, so none of them authenticates
again) and exported (serial, fingerprint, validity, revocation). A future record of the client's
joins the same way: an eraser in `ERASERS` and a section in `EXPORTERS`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from fedplane.api.models import AuditEntry
from fedplane.events.models import Event
from fedplane.events.services import emit

from ..choices import ExecutionStatus
from ..errors import ClientInExecution
from ..models import ClientAssignment, ClientCertificate, ClientUpdate, FLClient, PerformanceMetric, TrainingRound
from .clients import client_get, node_unregister

__all__ = ["client_purge", "client_export", "ERASERS", "EXPORTERS", "EXPORT_SECTION_LIMIT", "ERASED"]

IN_PROGRESS = (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING, ExecutionStatus.STOPPING)
ERASED = "(erased)"  # an update's error or rejection text: its presence still counts, its words are gone
# Event fields kept on an event that names a purged client: ids of what stays, nothing about the site.
EVENT_KEPT_FIELDS = ("clientId", "executionId", "round", "role")
# Rows per list section of an export (newest first); `counts` always gives the full totals.
EXPORT_SECTION_LIMIT = 10_000


# --- purge ---------------------------------------------------------------------------------------

def _executions_in_progress(client: FLClient) -> list[str]:
    ids = set(ClientAssignment.objects.filter(client=client, execution__status__in=IN_PROGRESS)
              .values_list("execution_id", flat=True))
    if client.current_execution_id and client.current_execution.status in IN_PROGRESS:
        ids.add(client.current_execution_id)
    return sorted(str(i) for i in ids)


def _refuse_if_in_execution(client: FLClient) -> None:
    busy = _executions_in_progress(client)
    if busy:
        raise ClientInExecution(
            f"Client {client.id} is assigned to an execution that is queued, running or stopping; unassign it "
            "(POST /fl/clients/{id}/unassign) or let the execution end, then purge it. Nothing was erased.",
            details={"clientId": str(client.id), "executionIds": busy})


def _events_naming(client_id: str) -> QuerySet:
    # No index on the payload: a scan of the FL system's events (system is indexed).
    return Event.objects.filter(system="fl", data__clientId=client_id)


def _erase_updates(client: FLClient) -> int:
    """Each update stays as an anonymous stub: what the aggregate weighed, nothing the client reported."""
    updates = ClientUpdate.objects.filter(client=client)
    updates.exclude(error="").update(error=ERASED)  # a failed update still counts as failed
    updates.exclude(rejection="").update(rejection=ERASED)  # and a rejected one as kept out
    return updates.update(client=None, node_id="", metrics={})


def _erase_telemetry(client: FLClient) -> int:
    return PerformanceMetric.objects.filter(client=client).delete()[0]


def _erase_assignments(client: FLClient) -> int:
    return ClientAssignment.objects.filter(client=client).delete()[0]


def _erase_straggler_marks(client: FLClient) -> int:
    """Rounds' straggler lists name the client: the entry stays (the round's timing), unnamed."""
    key, changed = str(client.id), []
    for round_ in TrainingRound.objects.filter(stragglers__icontains=key).only("id", "stragglers"):
        entries = [{**e, "clientId": None, "nodeId": ""} if e.get("clientId") == key else e for e in round_.stragglers]
        if entries != round_.stragglers:
            round_.stragglers = entries
            changed.append(round_)
    return TrainingRound.objects.bulk_update(changed, ["stragglers"], batch_size=500) if changed else 0


def _erase_event_payloads(client: FLClient) -> int:
    """Events that name the client keep their type, time and ids; its name, region, node, metrics go."""
    changed, batch = 0, []
    for event in _events_naming(str(client.id)).only("id", "data").iterator(chunk_size=500):
        event.data = {**{k: v for k, v in event.data.items() if k in EVENT_KEPT_FIELDS}, "erased": True}
        batch.append(event)
        if len(batch) == 500:  # one UPDATE per 500 events, not one per event
            changed += Event.objects.bulk_update(batch, ["data"])
            batch = []
    return changed + (Event.objects.bulk_update(batch, ["data"]) if batch else 0)


def _erase_audit_addresses(client: FLClient) -> int:
    """Audit lines of requests about the client stay (who acted, when, what, outcome), less the
    address they came from: the client's own heartbeats carry its site's IP address."""
    return _audit_lines(client).exclude(remote_addr=None).update(remote_addr=None)


def _erase_certificates(client: FLClient) -> int:
    """Deleted: a certificate with no record is refused (CERTIFICATE_UNTRUSTED) from the next request."""
    return ClientCertificate.objects.filter(client=client).delete()[0]


def _erase_record(client: FLClient) -> int:
    """Name, capability, data profile, location, metadata, public key and node id go with the row."""
    return FLClient.objects.filter(pk=client.pk).delete()[1].get(FLClient._meta.label, 0)


# Applied in order, in one transaction; the record itself last.
ERASERS: list[tuple[str, Callable[[FLClient], int]]] = [
    ("updates", _erase_updates),
    ("telemetry", _erase_telemetry),
    ("assignments", _erase_assignments),
    ("stragglerMarks", _erase_straggler_marks),
    ("events", _erase_event_payloads),
    ("auditAddresses", _erase_audit_addresses),
    ("certificates", _erase_certificates),
    ("record", _erase_record),
]


def client_purge(*, client_id) -> dict[str, Any]:
    """Erase a client's personal records; its aggregates and the audit log stay.

    404 for an unknown (or already purged) client; 409 while it is in a queued, running or stopping
    execution. Its Flower node is unregistered first, as a revocation does (a network call, outside
    the transaction; 503 and nothing erased if the SuperLink cannot be reached); then everything
    is erased in one transaction, or nothing is.
    """
    client = client_get(client_id)
    _refuse_if_in_execution(client)
    node_unregister(client.node_id, refused="nothing was erased")
    with transaction.atomic():
        client = client_get(client_id, for_update=True)
        _refuse_if_in_execution(client)  # assigned meanwhile: still nothing erased (its node is cut)
        had_node = bool(client.node_id)
        erased = {name: eraser(client) for name, eraser in ERASERS}
        erased["flowerNode"] = int(had_node)
        emit("client.purged", {"clientId": str(client_id), "erased": erased}, severity="warning")
    return {"clientId": str(client_id), "purged": True, "erased": erased, "purgedAt": timezone.now()}


# --- export --------------------------------------------------------------------------------------

def _audit_lines(client: FLClient) -> QuerySet:
    return AuditEntry.objects.filter(path__contains=f"/fl/clients/{client.id}")


def _section(queryset: QuerySet, render: Callable[[Any], dict]) -> list[dict]:
    return [render(row) for row in queryset[:EXPORT_SECTION_LIMIT]]


def _record(client: FLClient) -> dict:
    return {"id": str(client.id), "name": client.name, "status": client.status, "capability": client.capability,
            "dataProfile": client.data_profile, "location": client.location, "performance": client.performance,
            "metadata": client.metadata, "currentExecution": str(client.current_execution_id or "") or None,
            "nodeId": client.node_id or None, "publicKey": client.public_key or None,
            "owner": client.owner.get_username() if client.owner else None,
            "lastSeen": client.last_seen, "createdAt": client.created_at}


def _assignments(client: FLClient) -> list[dict]:
    return _section(ClientAssignment.objects.filter(client=client).select_related("execution").order_by("-assigned_at"),
                    lambda a: {"executionId": str(a.execution_id), "executionStatus": a.execution.status,
                               "role": a.role, "config": a.config, "assignedAt": a.assigned_at})


def _updates(client: FLClient) -> list[dict]:
    rows = ClientUpdate.objects.filter(client=client).select_related("round").order_by("-received_at", "-id")
    return _section(rows, lambda u: {
        "executionId": str(u.round.execution_id), "round": u.round.round_number, "phase": u.phase,
        "nodeId": u.node_id, "numExamples": u.num_examples, "metrics": u.metrics,
        "durationSeconds": u.duration_seconds, "error": u.error, "rejection": u.rejection,
        "receivedAt": u.received_at})


def _telemetry(client: FLClient) -> list[dict]:
    rows = PerformanceMetric.objects.filter(client=client).order_by("-recorded_at", "-id")
    return _section(rows, lambda m: {"kind": m.kind, "name": m.name, "value": m.value,
                                     "executionId": str(m.execution_id) if m.execution_id else None,
                                     "round": m.round_number, "recordedAt": m.recorded_at})


def _stragglers(client: FLClient) -> list[dict]:
    key = str(client.id)
    rows = TrainingRound.objects.filter(stragglers__icontains=key).order_by("-started_at")
    return [{"executionId": str(r.execution_id), "round": r.round_number, **entry}
            for r in rows[:EXPORT_SECTION_LIMIT] for entry in r.stragglers if entry.get("clientId") == key]


def _events(client: FLClient) -> list[dict]:
    rows = _events_naming(str(client.id)).order_by("-id")
    return _section(rows, lambda e: {**e.as_message(), "requestId": e.request_id or None})


def _audit(client: FLClient) -> list[dict]:
    """The requests about the client: what was asked and answered. Who asked (usernames, key
    prefixes) is the audit log's, behind admin:audit:view; `requestId` joins the two. The address
    a request came from is given for the owner account's requests only (the site's own heartbeats),
    not for other accounts' (an operator's)."""
    return _section(_audit_lines(client).order_by("-timestamp", "-id"), lambda a: {
        "timestamp": a.timestamp, "method": a.method, "path": a.path, "viewName": a.view_name,
        "statusCode": a.status_code, "outcome": a.outcome, "requestId": a.request_id,
        "remoteAddr": a.remote_addr if a.user_id is not None and a.user_id == client.owner_id else None,
        "details": a.details})


def _certificates(client: FLClient) -> list[dict]:
    return _section(ClientCertificate.objects.filter(client=client).order_by("-issued_at", "-id"), lambda c: {
        "serial": c.serial, "fingerprint": c.fingerprint, "notBefore": c.not_before, "notAfter": c.not_after,
        "issuedAt": c.issued_at, "revokedAt": c.revoked_at})


# Each section and the query that counts its rows.
EXPORTERS: list[tuple[str, Callable[[FLClient], list[dict]], Callable[[FLClient], int]]] = [
    ("assignments", _assignments, lambda c: ClientAssignment.objects.filter(client=c).count()),
    ("updates", _updates, lambda c: ClientUpdate.objects.filter(client=c).count()),
    ("telemetry", _telemetry, lambda c: PerformanceMetric.objects.filter(client=c).count()),
    ("stragglers", _stragglers, lambda c: TrainingRound.objects.filter(stragglers__icontains=str(c.id)).count()),
    ("events", _events, lambda c: _events_naming(str(c.id)).count()),
    ("auditLines", _audit, lambda c: _audit_lines(c).count()),
    ("certificates", _certificates, lambda c: ClientCertificate.objects.filter(client=c).count()),
]


def client_export(*, client_id) -> dict[str, Any]:
    """Everything stored about a client, in one document (read in one transaction: one moment)."""
    with transaction.atomic():
        client = client_get(client_id)
        counts = {name: count(client) for name, _, count in EXPORTERS}
        document: dict[str, Any] = {"format": "fedplane.client-export/1", "exportedAt": timezone.now(),
                                    "client": _record(client)}
        document.update({name: render(client) for name, render, _ in EXPORTERS})
        document["counts"] = counts
        document["truncated"] = sorted(name for name, n in counts.items() if n > EXPORT_SECTION_LIMIT)
    return document

