"""The federated-learning API refuses bad input with the seed's codes, and keeps what it stored."""
from __future__ import annotations

import uuid

import pytest

from fedplane.api.scopes import Scope
from flcore.models import FLClient, TrainingExecution
from tests.api.helpers import data_of, error_of

pytestmark = pytest.mark.django_db

ALL_FL = [Scope.FL_TRAINING_EXECUTE, Scope.FL_CLIENTS_MANAGE, Scope.FL_METRICS_VIEW, Scope.FL_MODELS_AGGREGATE]


@pytest.fixture
def online_nodes(monkeypatch) -> set[int]:
    """The SuperNodes the SuperLink lists as online (none unless a test adds some)."""
    nodes: set[int] = set()
    monkeypatch.setattr("flcore.services.executions.online_node_ids", lambda: set(nodes))
    return nodes


@pytest.fixture
def fl_api(api, make_key, settings, online_nodes):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    key, _ = make_key(ALL_FL)
    return api.auth(key)


def _register(fl_api, n: int) -> list[str]:
    return [data_of(fl_api.post("/api/v1/fl/clients", {"name": f"c{i}", "capability": {"compute": "cpu"},
                                                         "dataProfile": {"samples": 100, "quality": "high"},
                                                         "location": {"region": "eu"}}), 201)["data"]["id"]
            for i in range(n)]


def _execution(**overrides) -> dict:
    body = {"modelType": "classification", "algorithm": "fedavg",
            "config": {"rounds": 3, "minClients": 2, "clientFraction": 1.0, "localEpochs": 1,
                       "batchSize": 16, "learningRate": 0.1}}
    body.update(overrides)
    return body


@pytest.mark.parametrize("patch, field, code", [
    ({"algorithm": "fedmagic"}, "algorithm", "VALIDATION_ERROR"),
    ({"config": {"rounds": -1, "minClients": 2}}, "rounds", "VALIDATION_ERROR"),
    ({"config": {"rounds": "ten", "minClients": 2}}, "rounds", "VALIDATION_ERROR"),
    ({"config": {"rounds": 3, "minClients": 2, "clientFraction": 1.5}}, "clientFraction", "VALIDATION_ERROR"),
    ({"config": {"rounds": 3, "minClients": 2, "learningRate": 0}}, "learningRate", "VALIDATION_ERROR"),
    ({"config": {"rounds": 3, "minClients": 2, "roundz": 3}}, "roundz", "VALIDATION_ERROR"),
    # the first failing field decides: rounds (generic) before minClients (FL002)
    ({"config": {"rounds": 0, "minClients": 0}}, "rounds", "VALIDATION_ERROR"),
    ({"clients": ["not-a-uuid"]}, "clients", "FL002"),
    ({"config": {"rounds": 3, "minClients": 0}}, "minClients", "FL002"),
    ({"modelType": "poetry"}, "modelType", "FL006"),
    ({"config": {"rounds": 3, "minClients": 2, "inputDim": 0}}, "inputDim", "FL006"),
    ({"config": {"rounds": 3, "minClients": 2, "clientApp": "not a module path"}}, "clientApp", "FL006"),
    ({"privacyConfig": {"differential_privacy": True}}, "epsilon", "FL007"),
    ({"privacyConfig": {"differential_privacy": True, "epsilon": 1.0, "delta": 0.5}}, "delta", "FL007"),
])
def test_malformed_execution_is_422_with_its_fields_code_and_stores_nothing(fl_api, patch, field, code):
    _register(fl_api, 2)
    error = error_of(fl_api.post("/api/v1/fl/executions", _execution(**patch)), 422, code)
    assert field in str(error["details"]) and field in error["message"]
    assert TrainingExecution.objects.count() == 0


def test_min_clients_above_registered_clients_is_fl002(fl_api):
    _register(fl_api, 1)
    error = error_of(fl_api.post("/api/v1/fl/executions", _execution()), 422, "FL002")
    assert error["details"] == {"minClients": 2, "registeredClients": 1, "connectedNodes": 0, "availableClients": 1}
    assert TrainingExecution.objects.count() == 0


def test_connected_supernodes_without_a_client_record_count_towards_min_clients(fl_api, online_nodes):
    """Without `clients` every connected node trains; one whose id is a client's `nodeId` is that client,
    and an unknown one may be a registered client whose node id is not known yet (counted once)."""
    known, unknown = _register(fl_api, 2)
    data_of(fl_api.put(f"/api/v1/fl/clients/{known}/status", {"status": "active", "metadata": {"nodeId": 7}}))
    online_nodes.update({7, 8})  # the known client's node, and one that may be `unknown`'s
    body = _execution()
    body["config"]["minClients"] = 3
    error = error_of(fl_api.post("/api/v1/fl/executions", body), 422, "FL002")
    assert error["details"] == {"minClients": 3, "registeredClients": 2, "connectedNodes": 2, "availableClients": 2}
    online_nodes.add(9)
    assert data_of(fl_api.post("/api/v1/fl/executions", body), 202)["data"]["status"] == "queued"
    error_of(fl_api.post("/api/v1/fl/executions", {**body, "clients": [known, unknown]}), 422, "FL002")


def test_the_superlink_is_not_asked_when_registered_clients_suffice(fl_api, monkeypatch):
    asked = []
    monkeypatch.setattr("flcore.services.executions.online_node_ids", lambda: asked.append(1) or set())
    _register(fl_api, 2)
    assert data_of(fl_api.post("/api/v1/fl/executions", _execution()), 202)["data"]["status"] == "queued"
    assert asked == []
    body = _execution()
    body["config"]["minClients"] = 3
    error_of(fl_api.post("/api/v1/fl/executions", body), 422, "FL002")
    assert asked == [1]


def test_unknown_execution_is_fl001_on_every_route(fl_api):
    missing = uuid.uuid4()
    for path in (f"/api/v1/fl/executions/{missing}", f"/api/v1/fl/executions/not-a-uuid",
                 f"/api/v1/fl/executions/{missing}/rounds", f"/api/v1/fl/aggregation/{missing}/status"):
        error_of(fl_api.get(path), 404, "FL001")
    error_of(fl_api.post(f"/api/v1/fl/executions/{missing}/stop", {}), 404, "FL001")


def test_accepted_execution_is_202_pending_then_stops_at_once_and_resume_needs_a_checkpoint(fl_api):
    clients = _register(fl_api, 2)
    created = data_of(fl_api.post("/api/v1/fl/executions", _execution(clients=clients)), 202)["data"]
    assert created["status"] == "queued" and created["totalRounds"] == 3 and created["currentRound"] == 0
    in_progress = error_of(fl_api.post(f"/api/v1/fl/executions/{created['id']}/resume", {}), 409, "FL003")
    assert in_progress["details"] == {"status": "queued"}
    error_of(fl_api.post(f"/api/v1/fl/executions/{created['id']}/resume",
                         {"adjustConfig": {"minClients": 0}}), 422, "FL002")  # the body is checked first
    stopped = data_of(fl_api.post(f"/api/v1/fl/executions/{created['id']}/stop", {"reason": "not today"}), 202)
    assert stopped["data"]["status"] == "stopped" and stopped["data"]["stopReason"] == "not today"
    error_of(fl_api.post(f"/api/v1/fl/executions/{created['id']}/stop", {}), 409, "CONFLICT")
    error_of(fl_api.post(f"/api/v1/fl/executions/{created['id']}/resume", {"fromRound": 2}), 422, "FL006")
    error_of(fl_api.post(f"/api/v1/fl/executions/{created['id']}/resume", {"adjustConfig": {"color": 1}}), 422)
    listed = data_of(fl_api.get("/api/v1/fl/executions?status=stopped&modelType=classification"))
    assert [e["id"] for e in listed["data"]] == [created["id"]]
    assert data_of(fl_api.get("/api/v1/fl/executions?status=running"))["data"] == []


def test_client_registry_status_assign_and_filters(fl_api):
    client_id, other = _register(fl_api, 2)
    execution = data_of(fl_api.post("/api/v1/fl/executions", _execution()), 202)["data"]
    updated = data_of(fl_api.put(f"/api/v1/fl/clients/{client_id}/status",
                                 {"status": "active", "metadata": {"nodeId": 2**64 - 1, "cpu": 12.5}}))["data"]
    assert updated["status"] == "active" and updated["nodeId"] == str(2**64 - 1) and updated["lastSeen"]
    error_of(fl_api.put(f"/api/v1/fl/clients/{client_id}/status",
                        {"status": "active", "metadata": {"nodeId": "node-7"}}), 422, "VALIDATION_ERROR")
    error_of(fl_api.put(f"/api/v1/fl/clients/{client_id}/status", {"status": "sleeping"}), 422, "VALIDATION_ERROR")
    assigned = data_of(fl_api.post(f"/api/v1/fl/clients/{client_id}/assign",
                                   {"executionId": execution["id"], "role": "validator"}), 201)["data"]
    assert assigned["role"] == "validator" and assigned["flower"]["superlinkAddress"]
    error_of(fl_api.post(f"/api/v1/fl/clients/{client_id}/assign", {"executionId": str(uuid.uuid4())}), 404, "FL001")
    active = data_of(fl_api.get("/api/v1/fl/clients?status=active&capability=cpu&region=eu"))["data"]
    assert [c["id"] for c in active] == [client_id]
    assert FLClient.objects.get(pk=client_id).current_execution_id == uuid.UUID(execution["id"])
    metrics = data_of(fl_api.get(f"/api/v1/fl/clients/{other}/metrics?period=7d"))["data"]
    assert metrics["contribution"] == {"examples": 0, "rounds": 0, "share": 0.0}
    error_of(fl_api.get(f"/api/v1/fl/clients/{other}/metrics?period=1y"), 422)


def test_a_revoked_client_is_refused_everywhere_and_keeps_its_history(fl_api):
    client_id, other, _third = _register(fl_api, 3)
    revoked = data_of(fl_api.post(f"/api/v1/fl/clients/{client_id}/revoke"))["data"]
    assert revoked["status"] == "revoked"
    error_of(fl_api.put(f"/api/v1/fl/clients/{client_id}/status", {"status": "active"}), 403, "FORBIDDEN")
    error_of(fl_api.post(f"/api/v1/fl/clients/{client_id}/revoke"), 403, "FORBIDDEN")
    error_of(fl_api.post("/api/v1/fl/executions", _execution(clients=[client_id, other])), 403, "FORBIDDEN")
    assert not TrainingExecution.objects.exists()
    listed = data_of(fl_api.get("/api/v1/fl/clients?status=revoked"))["data"]
    assert [c["id"] for c in listed] == [client_id]
    error_of(fl_api.post(f"/api/v1/fl/clients/{uuid.uuid4()}/revoke"), 404)


def test_unassign_takes_a_client_off_and_a_running_dp_execution_keeps_its_clients(fl_api):
    first, second, third = _register(fl_api, 3)
    execution = data_of(fl_api.post("/api/v1/fl/executions", _execution(clients=[first, second])), 202)["data"]
    taken = data_of(fl_api.post(f"/api/v1/fl/clients/{second}/unassign", {"executionId": execution["id"]}))["data"]
    assert taken["unassigned"] is True and FLClient.objects.get(pk=second).current_execution_id is None
    again = data_of(fl_api.post(f"/api/v1/fl/clients/{second}/unassign", {"executionId": execution["id"]}))["data"]
    assert again["unassigned"] is False
    error_of(fl_api.post(f"/api/v1/fl/clients/{second}/unassign", {}), 422, "VALIDATION_ERROR")

    private = data_of(fl_api.post("/api/v1/fl/executions", _execution(
        clients=[first, second], privacyConfig={"differential_privacy": True, "epsilon": 5.0, "delta": 1e-5})),
        202)["data"]
    TrainingExecution.objects.filter(pk=private["id"]).update(status="running")
    for verb, who in (("assign", third), ("unassign", first)):
        error = error_of(fl_api.post(f"/api/v1/fl/clients/{who}/{verb}", {"executionId": private["id"]}), 409, "FL007")
        assert "differential privacy" in error["message"]
    assert [str(c) for c in TrainingExecution.objects.get(pk=private["id"]).assignments
            .order_by("client__name").values_list("client_id", flat=True)] == [first, second]


def test_scopes_are_enforced_per_endpoint(api, make_key, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    viewer, _ = make_key([Scope.FL_METRICS_VIEW])
    api.auth(viewer)
    assert api.get("/api/v1/fl/executions").status_code == 200
    error_of(api.post("/api/v1/fl/executions", _execution()), 403, "FORBIDDEN")
    error_of(api.post("/api/v1/fl/clients", {"name": "x"}), 403, "FORBIDDEN")


def test_trigger_names_only_the_executions_own_clients_and_never_a_dp_run(fl_api):
    ids = _register(fl_api, 3)
    created = data_of(fl_api.post("/api/v1/fl/executions", _execution(clients=ids[:2])), 202)["data"]
    url = f"/api/v1/fl/aggregation/{created['id']}/trigger"
    error_of(fl_api.post(url, {"clients": [ids[0]], "waitForAll": True}), 409, "CONFLICT")  # still queued
    TrainingExecution.objects.filter(pk=created["id"]).update(status="running")

    error = error_of(fl_api.post(url, {"clients": [ids[2]], "waitForAll": True}), 422, "FL004")
    assert error["details"] == {"clients": [ids[2]]}
    error_of(fl_api.post(url, {"round": 3, "clients": [ids[0]], "waitForAll": True}), 422, "FL004")
    accepted = data_of(fl_api.post(url, {"clients": [ids[0]], "waitForAll": False}), 202)["data"]
    assert accepted["trigger"] == {"round": 1, "clients": [ids[0]], "waitForAll": False}
    status = data_of(fl_api.get(f"/api/v1/fl/aggregation/{created['id']}/status"), 200)["data"]
    assert status["pendingTrigger"] == accepted["trigger"]

    TrainingExecution.objects.filter(pk=created["id"]).update(
        privacy_config={"differential_privacy": True, "epsilon": 5.0, "delta": 1e-5})
    error_of(fl_api.post(url, {"clients": [ids[0]], "waitForAll": True}), 422, "FL007")


def test_trigger_checks_its_body_before_the_executions_state(fl_api):
    """A bad body is 422 whatever the execution's state (it was 409 while the execution was queued)."""
    ids = _register(fl_api, 3)
    created = data_of(fl_api.post("/api/v1/fl/executions", _execution(clients=ids[:2])), 202)["data"]
    url = f"/api/v1/fl/aggregation/{created['id']}/trigger"
    before = TrainingExecution.objects.get(pk=created["id"]).aggregation_config
    for body, code in (([], "VALIDATION_ERROR"), ({"round": 0}, "VALIDATION_ERROR"),
                       ({"clients": ["not-a-uuid"]}, "VALIDATION_ERROR"), ({"unknown": 1}, "VALIDATION_ERROR"),
                       ({"round": 10**30}, "VALIDATION_ERROR"), ({"clients": [ids[2]]}, "FL004"),
                       ({"round": 99}, "FL004")):
        error_of(fl_api.post(url, body), 422, code)
    error_of(fl_api.post(url, {"clients": [ids[0]]}), 409, "CONFLICT")  # a good body meets the state check
    assert TrainingExecution.objects.get(pk=created["id"]).aggregation_config == before


@pytest.mark.parametrize("algorithm, privacy, min_clients, needle", [
    ("fedavg", {"secure_aggregation": True, "differential_privacy": True, "epsilon": 5.0, "delta": 1e-5}, 3,
     "differential_privacy"),
    ("fedopt", {"secure_aggregation": True}, 3, "fedavg or fedprox"),
    ("fedavg", {"secure_aggregation": True}, 2, "at least 3"),
])
def test_secure_aggregation_it_cannot_honour_is_fl007(fl_api, algorithm, privacy, min_clients, needle):
    _register(fl_api, 3)
    body = _execution(algorithm=algorithm, privacyConfig=privacy)
    body["config"]["minClients"] = min_clients
    error = error_of(fl_api.post("/api/v1/fl/executions", body), 422, "FL007")
    assert needle in error["message"]
    assert TrainingExecution.objects.count() == 0


def test_secure_aggregation_is_accepted_with_three_clients(fl_api):
    _register(fl_api, 3)
    body = _execution(privacyConfig={"secure_aggregation": True, "secureAggregationThreshold": 0.67})
    body["config"]["minClients"] = 3
    created = data_of(fl_api.post("/api/v1/fl/executions", body), 202)["data"]
    stored = TrainingExecution.objects.get(pk=created["id"])
    assert stored.privacy_config["secure_aggregation"] is True


def test_strategy_options_are_checked_at_the_door_and_on_a_strategy_switch(fl_api):
    _register(fl_api, 5)
    catalogue = data_of(fl_api.get("/api/v1/fl/strategies"))["data"]
    assert {"krum", "bulyan", "fedavgm", "qfedavg"} <= {s["name"] for s in catalogue["strategies"]}

    def refused(algorithm: str, options: dict, code: str = "VALIDATION_ERROR", min_clients: int = 5) -> dict:
        body = _execution(algorithm=algorithm)
        body["config"] |= {"minClients": min_clients, "strategyOptions": options}
        return error_of(fl_api.post("/api/v1/fl/executions", body), 422, code)

    error = refused("krum", {"numMalicious": 1})
    assert "config.strategyOptions.numMalicious" in error["details"] and "numMaliciousNodes" in error["message"]
    assert "config.strategyOptions.beta" in refused("fedtrimmedavg", {"beta": 0.5})["details"]
    assert "config.strategyOptions.serverMomentum" in refused("fedavgm", {"serverMomentum": "high"})["details"]
    too_few = refused("krum", {"numMaliciousNodes": 2}, "FL002")  # n = 5 clients, Krum needs n > 2f + 2 = 6
    assert too_few["details"] == {"algorithm": "krum", "numMaliciousNodes": 2, "required": 7, "minClients": 5}
    assert refused("bulyan", {"numMaliciousNodes": 1}, "FL002")["details"]["required"] == 7
    dp = _execution(algorithm="fedmedian", privacyConfig={"differential_privacy": True, "epsilon": 1.0,
                                                           "delta": 1e-5})
    error_of(fl_api.post("/api/v1/fl/executions", dp), 422, "FL007")
    assert TrainingExecution.objects.count() == 0

    body = _execution(algorithm="krum")
    body["config"] |= {"minClients": 5, "strategyOptions": {"numMaliciousNodes": 1}}
    created = data_of(fl_api.post("/api/v1/fl/executions", body), 202)["data"]
    assert created["config"]["strategyOptions"] == {"numMaliciousNodes": 1}
    switch = f"/api/v1/fl/aggregation/{created['id']}/configure"
    error = error_of(fl_api.post(switch, {"strategy": "fedavgm"}), 422, "FL004")  # fedavgm takes no numMaliciousNodes
    assert "numMaliciousNodes" in error["message"]
    assert "at least 7" in error_of(fl_api.post(switch, {"strategy": "bulyan"}), 422, "FL004")["message"]  # 4f + 3
    assert data_of(fl_api.post(switch, {"strategy": "multikrum"}))["data"]["strategy"] == "multikrum"
