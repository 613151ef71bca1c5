"""A client's erasure (DELETE ?purge=true) and export (GET .../export): what goes, what stays, who may."""
from __future__ import annotations

import httpx
import pytest

from fedplane.api.models import AuditEntry
from fedplane.api.scopes import Scope
from fedplane.events.models import Event
from flcore.models import (AggregatedModel, ClientAssignment, ClientUpdate, FLClient, PerformanceMetric,
                           TrainingExecution, TrainingRound)
from flcore.services.client_records import ERASED
from tests.api.helpers import data_of, error_of

pytestmark = pytest.mark.django_db

MANAGE = [Scope.FL_CLIENTS_MANAGE, Scope.FL_METRICS_VIEW]


@pytest.fixture
def fl_api(api, make_key):
    key, _ = make_key(MANAGE)
    return api.auth(key)


@pytest.fixture
def unregistered(monkeypatch) -> list[int]:
    """Node ids the SuperLink was asked to unregister."""
    calls: list[int] = []
    monkeypatch.setattr("flcore.services.clients.unregister_node",
                        lambda address, node_id, **tls: calls.append(node_id))
    return calls


def _client(fl_api, name: str) -> FLClient:
    body = {"name": name, "capability": {"compute": "gpu", "memory": "64GB"},
            "dataProfile": {"samples": 1200, "quality": "high"}, "location": {"region": "eu-west", "zone": "a"}}
    client_id = data_of(fl_api.post("/api/v1/fl/clients", body), 201)["data"]["id"]
    data_of(fl_api.put(f"/api/v1/fl/clients/{client_id}/status",
                       {"status": "idle", "metadata": {"cpu": 41.0, "memory": 2.5e9, "site": name}}))
    return FLClient.objects.get(pk=client_id)


def _trained(a: FLClient, b: FLClient, status: str = "completed") -> TrainingExecution:
    """An execution whose round 1 took an update from each client; `a` was late and then rejected."""
    execution = TrainingExecution.objects.create(model_type="classification", total_rounds=1, status=status,
                                                 config={"rounds": 1, "minClients": 2})
    round_ = TrainingRound.objects.create(
        execution=execution, round_number=1, status="completed", metrics={"train": {"loss": 0.4}},
        stragglers=[{"nodeId": "11", "clientId": str(a.id), "phase": "train", "seconds": 9.0},
                    {"nodeId": "22", "clientId": str(b.id), "phase": "train", "seconds": 8.0}])
    ClientUpdate.objects.create(round=round_, client=a, node_id="11", phase="train", num_examples=1200,
                                metrics={"loss": 0.5, "siteNote": "ward 7"}, duration_seconds=3.0,
                                rejection="non-finite values in dense.weight")
    ClientUpdate.objects.create(round=round_, client=b, node_id="22", phase="train", num_examples=800,
                                metrics={"loss": 0.3}, duration_seconds=2.0)
    AggregatedModel.objects.create(execution=execution, round=round_, round_number=1, algorithm="fedavg",
                                   artifact_path="x.safetensors", sha256="0" * 64, size_bytes=10)
    for client in (a, b):
        ClientAssignment.objects.create(execution=execution, client=client)
    return execution


def test_purge_erases_the_clients_records_and_keeps_the_aggregates_and_an_audit_line(fl_api, unregistered):
    a, b = _client(fl_api, "hospital-a"), _client(fl_api, "hospital-b")
    FLClient.objects.filter(pk=a.pk).update(node_id="11")
    execution = _trained(a, b)

    body = data_of(fl_api.delete(f"/api/v1/fl/clients/{a.id}?purge=true"))["data"]
    assert body["purged"] is True and body["clientId"] == str(a.id)
    assert body["erased"] == {"updates": 1, "telemetry": 2, "assignments": 1, "stragglerMarks": 1,
                              "events": 1, "auditAddresses": 1, "certificates": 0, "record": 1, "flowerNode": 1}
    assert unregistered == [11]

    assert not FLClient.objects.filter(pk=a.pk).exists()
    stub = ClientUpdate.objects.get(round__execution=execution, num_examples=1200)
    assert (stub.client_id, stub.node_id, stub.metrics, stub.rejection) == (None, "", {}, ERASED)
    assert not PerformanceMetric.objects.filter(client_id=a.pk).exists()
    assert not ClientAssignment.objects.filter(client_id=a.pk).exists()
    round_ = TrainingRound.objects.get(execution=execution)
    assert round_.metrics == {"train": {"loss": 0.4}} and AggregatedModel.objects.filter(round=round_).exists()
    assert [s["clientId"] for s in round_.stragglers] == [None, str(b.id)]
    for event in Event.objects.filter(data__clientId=str(a.id)).exclude(type="client.purged"):
        assert set(event.data) <= {"clientId", "executionId", "round", "role", "erased"}, event.data
    assert "hospital-a" not in str(list(Event.objects.values_list("data", flat=True)))

    # the other client keeps everything
    assert FLClient.objects.get(pk=b.pk).data_profile == {"samples": 1200, "quality": "high"}
    assert ClientUpdate.objects.get(client=b).metrics == {"loss": 0.3}
    assert PerformanceMetric.objects.filter(client=b).count() == 2
    assert Event.objects.get(type="client.registered", data__clientId=str(b.id)).data["name"] == "hospital-b"

    line = AuditEntry.objects.get(method="DELETE", path=f"/api/v1/fl/clients/{a.id}")
    assert (line.status_code, line.outcome) == (200, "success")
    assert line.details == {"clientId": str(a.id), "erased": body["erased"]}
    # the lines before it keep who and when, not the address (the client's own heartbeats carry its site's)
    earlier = AuditEntry.objects.filter(path__contains=str(a.id)).exclude(method="DELETE")
    assert earlier.count() == 1 and not earlier.exclude(remote_addr=None).exists()

    # a second purge: the client is gone
    error_of(fl_api.delete(f"/api/v1/fl/clients/{a.id}?purge=true"), 404, "NOT_FOUND")


def test_export_holds_everything_stored_about_the_client_and_is_audited(fl_api):
    a, b = _client(fl_api, "hospital-a"), _client(fl_api, "hospital-b")
    execution = _trained(a, b)

    document = data_of(fl_api.get(f"/api/v1/fl/clients/{a.id}/export"))["data"]
    assert document["format"] == "fedplane.client-export/1"
    record = document["client"]
    assert (record["name"], record["dataProfile"], record["location"]["region"]) == (
        "hospital-a", {"samples": 1200, "quality": "high"}, "eu-west")
    assert record["metadata"] == {"site": "hospital-a"}
    assert document["assignments"] == [{"executionId": str(execution.id), "executionStatus": "completed",
                                        "role": "trainer", "config": {},
                                        "assignedAt": document["assignments"][0]["assignedAt"]}]
    [update] = document["updates"]
    assert (update["round"], update["phase"], update["numExamples"], update["metrics"], update["rejection"]) == (
        1, "train", 1200, {"loss": 0.5, "siteNote": "ward 7"}, "non-finite values in dense.weight")
    assert {m["name"]: m["value"] for m in document["telemetry"]} == {"cpu": 41.0, "memory": 2.5e9}
    assert document["stragglers"][0]["seconds"] == 9.0
    assert {e["event"] for e in document["events"]} == {"client.registered"}
    [heartbeat] = document["auditLines"]  # the status report; registration's path names no client yet
    assert (heartbeat["method"], heartbeat["viewName"], heartbeat["statusCode"]) == ("PUT", "fl-client-set-status", 200)
    assert document["counts"]["updates"] == 1 and document["truncated"] == []
    assert str(b.id) not in str({k: v for k, v in document.items() if k != "stragglers"})

    line = AuditEntry.objects.get(method="GET", path=f"/api/v1/fl/clients/{a.id}/export")
    assert line.details["clientId"] == str(a.id) and line.details["counts"]["updates"] == 1


def test_purge_is_refused_while_the_client_is_in_a_running_execution_and_nothing_changes(fl_api, unregistered):
    a, b = _client(fl_api, "hospital-a"), _client(fl_api, "hospital-b")
    FLClient.objects.filter(pk=a.pk).update(node_id="11")
    execution = _trained(a, b, status="running")

    error = error_of(fl_api.delete(f"/api/v1/fl/clients/{a.id}?purge=true"), 409, "CLIENT_IN_EXECUTION")
    assert error["details"]["executionIds"] == [str(execution.id)]
    assert unregistered == []
    assert FLClient.objects.get(pk=a.pk).node_id == "11"
    assert ClientUpdate.objects.get(client=a).metrics == {"loss": 0.5, "siteNote": "ward 7"}
    assert PerformanceMetric.objects.filter(client=a).count() == 2

    data_of(fl_api.post(f"/api/v1/fl/clients/{a.id}/unassign", {"executionId": str(execution.id)}))
    data_of(fl_api.delete(f"/api/v1/fl/clients/{a.id}?purge=true"))
    assert not FLClient.objects.filter(pk=a.pk).exists()


def test_an_unreachable_superlink_erases_nothing(fl_api, monkeypatch):
    a = _client(fl_api, "hospital-a")
    FLClient.objects.filter(pk=a.pk).update(node_id="11")

    def down(*args, **kwargs):
        raise httpx.ConnectError("refused")
    monkeypatch.setattr("flcore.services.clients.unregister_node", down)
    error_of(fl_api.delete(f"/api/v1/fl/clients/{a.id}?purge=true"), 503, "SERVICE_UNAVAILABLE")
    assert FLClient.objects.get(pk=a.pk).data_profile and PerformanceMetric.objects.filter(client=a).exists()


@pytest.mark.parametrize("query, status, code", [
    ("", 400, "BAD_REQUEST"),
    ("?purge=false", 400, "BAD_REQUEST"),
    ("?purge=maybe", 422, "VALIDATION_ERROR"),
])
def test_a_delete_without_purge_true_is_refused_and_changes_nothing(fl_api, query, status, code):
    a = _client(fl_api, "hospital-a")
    error = error_of(fl_api.delete(f"/api/v1/fl/clients/{a.id}{query}"), status, code)
    assert "purge" in str(error["details"])
    assert FLClient.objects.get(pk=a.pk).name == "hospital-a"


@pytest.mark.parametrize("client_id", ["00000000-0000-0000-0000-000000000001", "not-a-uuid"])
def test_unknown_clients_are_404(fl_api, client_id):
    error_of(fl_api.delete(f"/api/v1/fl/clients/{client_id}?purge=true"), 404, "NOT_FOUND")
    error_of(fl_api.get(f"/api/v1/fl/clients/{client_id}/export"), 404, "NOT_FOUND")


def test_purge_and_export_need_the_managing_scope(fl_api, client, make_key):
    a = _client(fl_api, "hospital-a")
    reader, _ = make_key([Scope.FL_METRICS_VIEW])
    error_of(client.delete(f"/api/v1/fl/clients/{a.id}?purge=true", HTTP_X_API_KEY=reader), 403, "FORBIDDEN")
    error_of(client.get(f"/api/v1/fl/clients/{a.id}/export", HTTP_X_API_KEY=reader), 403, "FORBIDDEN")
    assert FLClient.objects.filter(pk=a.pk).exists()
    denied = AuditEntry.objects.get(method="GET", path=f"/api/v1/fl/clients/{a.id}/export")
    assert (denied.status_code, denied.outcome, denied.details) == (403, "denied", {})
