"""Unified deployment (POST /integration/deploy): validation up front, the coordination of the
Module Federation half and the training half, rollback, and the events that tell the story."""
from __future__ import annotations

import uuid

import pytest

from fedplane.api.scopes import ALL_SCOPES, Scope
from tests.api.helpers import error_of
from tests.support.processes import wait_until

BASE = "/api/v1/integration"
TRAINING = {"modelType": "classification", "algorithm": "fedavg",
            "config": {"rounds": 1, "minClients": 2, "localEpochs": 1, "roundTimeoutSeconds": 60,
                       "connectTimeoutSeconds": 60}}


@pytest.fixture
def admin(api, make_key):
    key, _ = make_key(sorted(ALL_SCOPES))
    return api.auth(key)


def _ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.content[:800]
    return response.json()["data"]


@pytest.fixture
def world(admin):
    """An application with two modules and a shared dependency, and two registered clients."""
    def make(node_ids=(None, None)) -> dict:
        tag = uuid.uuid4().hex[:6]
        app = _ok(admin.post("/api/v1/federation/applications", {
            "name": f"shell{tag}", "host": "http://localhost:3000", "version": "1.0.0", "framework": "react"}), 201)
        modules = [_ok(admin.post("/api/v1/federation/modules", {
            "applicationId": app["id"], "name": name, "version": "2.0.0",
            "url": f"http://cdn.local/{name}/remoteEntry.js"}), 201) for name in (f"cart{tag}", f"checkout{tag}")]
        _ok(admin.post("/api/v1/federation/dependencies", {"package": "react", "version": "18.2.0",
                                                            "applications": [app["id"]]}), 201)
        clients = []
        for index, node_id in enumerate(node_ids):
            client = _ok(admin.post("/api/v1/fl/clients", {"name": f"site{index}-{tag}"}), 201)
            if node_id:  # what a joined client's heartbeat reports
                _ok(admin.put(f"/api/v1/fl/clients/{client['id']}/status",
                              {"status": "idle", "metadata": {"nodeId": str(node_id)}}))
            clients.append(client)
        return {"app": app, "modules": modules, "clients": clients}
    return make


def _body(w: dict, **overrides) -> dict:
    body = {"federation": {"applicationId": w["app"]["id"], "modules": [m["id"] for m in w["modules"]]},
            "federatedLearning": {"clients": [c["id"] for c in w["clients"]], "config": TRAINING},
            "environment": "staging", "coordination": {"syncDeployment": True, "rollbackOnFailure": True}}
    for key, value in overrides.items():
        body[key] = value
    return body


def _story(admin, deployment_id: str) -> list[str]:
    """The integration events of one deployment, in commit order, through the event history API."""
    body = admin.get(f"{BASE}/events", data={"system": "integration", "limit": 100}).json()
    return [e["event"] for e in body["data"] if e["data"].get("deploymentId") == deployment_id]


# -- validation (no worker needed) -----------------------------------------------------------------

@pytest.mark.django_db
class TestValidation:
    def test_accepted_deploy_answers_202_with_a_pending_resource(self, admin, world):
        w = world()
        data = _ok(admin.post(f"{BASE}/deploy", _body(w)), 202)
        assert data["status"] == "pending" and data["environment"] == "staging"
        assert [(s["name"], s["status"]) for s in data["steps"]] == [("federation", "pending"),
                                                                    ("training", "pending")]
        assert data["federation"]["strategy"] == "blue-green" and data["federatedLearning"]["mode"] == "start"
        assert data["links"]["self"] == f"{BASE}/deployments/{data['id']}"
        assert _ok(admin.get(data["links"]["self"]))["id"] == data["id"]
        assert _story(admin, data["id"]) == ["integration.deployment.started"]

    @pytest.mark.parametrize("mutate, status, code", [
        (lambda b: b.update(surprise=1), 422, "VALIDATION_ERROR"),
        (lambda b: b["coordination"].update(syncDeployment="sometimes"), 422, "VALIDATION_ERROR"),
        (lambda b: b["federatedLearning"].update(clients="abc"), 422, "VALIDATION_ERROR"),
        (lambda b: b["federatedLearning"].update(clients=[]), 422, "VALIDATION_ERROR"),
        (lambda b: b.update(environment="moon"), 422, "VALIDATION_ERROR"),
        (lambda b: b["federatedLearning"].pop("config"), 422, "VALIDATION_ERROR"),
        (lambda b: b["federatedLearning"].update(executionId=str(uuid.uuid4())), 422, "VALIDATION_ERROR"),
        (lambda b: b["federatedLearning"]["config"]["config"].update(rounds=0), 422, "VALIDATION_ERROR"),
        (lambda b: b["federatedLearning"]["config"].update(algorithm="nope"), 422, "VALIDATION_ERROR"),
        (lambda b: b["federation"].update(applicationId=str(uuid.uuid4())), 404, "MF001"),
        (lambda b: b["federation"].update(modules=["not-a-module"]), 422, "MF004"),
        (lambda b: b["federatedLearning"].update(clients=[str(uuid.uuid4())]), 422, "FL002"),
        (lambda b: b["federatedLearning"]["config"]["config"].update(minClients=3), 422, "FL002"),
    ])
    def test_bad_requests_are_refused_in_the_error_envelope(self, admin, world, mutate, status, code):
        import copy
        body = copy.deepcopy(_body(world()))
        mutate(body)
        error_of(admin.post(f"{BASE}/deploy", body), status, code)

    def test_unknown_execution_is_fl001_and_a_module_of_another_app_is_mf004(self, admin, world):
        w, other = world(), world()
        training = {"clients": [c["id"] for c in w["clients"]], "executionId": str(uuid.uuid4())}
        error_of(admin.post(f"{BASE}/deploy", _body(w, federatedLearning=training)), 404, "FL001")
        foreign = {"applicationId": w["app"]["id"], "modules": [other["modules"][0]["id"]]}
        error_of(admin.post(f"{BASE}/deploy", _body(w, federation=foreign)), 422, "MF004")

    def test_invalid_json_and_a_busy_environment(self, admin, world):
        error_of(admin.post(f"{BASE}/deploy", "{not json"), 400, "INVALID_JSON")
        w = world()
        _ok(admin.post(f"{BASE}/deploy", _body(w)), 202)
        error_of(admin.post(f"{BASE}/deploy", _body(w)), 409, "MF005")  # the first is still in progress

    def test_scopes(self, make_key, world, admin):
        w = world()

        def as_(scopes) -> dict:
            return {"HTTP_X_API_KEY": make_key(scopes)[0]}

        deploy_only = as_([Scope.FEDERATION_MODULES_DEPLOY])
        error = error_of(admin.post(f"{BASE}/deploy", _body(w), **deploy_only), 403, "FORBIDDEN")
        assert Scope.FL_TRAINING_EXECUTE in error["message"]
        created = _ok(admin.post(f"{BASE}/deploy", _body(w)), 202)
        reader = as_([Scope.FL_METRICS_VIEW])
        assert _ok(admin.get(f"{BASE}/deployments/{created['id']}", **reader))["id"] == created["id"]
        error_of(admin.post(f"{BASE}/deployments/{created['id']}/rollback", {}, **reader), 403, "FORBIDDEN")
        error_of(admin.get(f"{BASE}/deployments/{created['id']}", **as_([Scope.REGIONS_PREDICT])), 403, "FORBIDDEN")
        error_of(admin.get(f"{BASE}/deployments/{uuid.uuid4()}"), 404, "NOT_FOUND")
        error_of(admin.get(f"{BASE}/deployments/not-an-id"), 404, "NOT_FOUND")


# -- the coordination, one task step at a time in this process --------------------------------------

@pytest.mark.django_db
class TestCoordination:
    def _advance(self, deployment_id: str) -> None:
        """What the Celery task runs (its follow-up is queued on commit, which these tests never reach)."""
        from fedplane.integration.services.deploy import deployment_advance
        deployment_advance(deployment_id)

    def test_without_rollback_on_failure_the_deployed_modules_stay_and_a_manual_rollback_undoes_them(
            self, admin, world):
        w = world(node_ids=(101, None))  # the second client never connected a Flower node
        body = _body(w, coordination={"syncDeployment": True, "rollbackOnFailure": False})
        created = _ok(admin.post(f"{BASE}/deploy", body), 202)
        self._advance(created["id"])
        failed = _ok(admin.get(f"{BASE}/deployments/{created['id']}"))
        assert failed["status"] == "failed" and failed["error"]["code"] == "FL005"
        steps = {s["name"]: s for s in failed["steps"]}
        assert steps["federation"]["status"] == "succeeded" and steps["training"]["status"] == "failed"
        assert steps["training"]["detail"]["withoutFlowerNode"] == [w["clients"][1]["id"]]
        mf = _ok(admin.get(failed["links"]["federationDeployment"]))
        assert mf["status"] == "completed" and failed["federatedLearning"]["executionId"] is None
        assert _story(admin, created["id"]) == ["integration.deployment.started", "integration.federation.deployed",
                                                "integration.training.failed", "integration.deployment.failed"]

        rolled = _ok(admin.post(f"{BASE}/deployments/{created['id']}/rollback", {"reason": "bad release"}))
        assert rolled["status"] == "rolled_back"
        steps = {s["name"]: s["status"] for s in rolled["steps"]}
        assert steps["rollback:federation"] == "undone" and steps["rollback:training"] == "skipped"
        assert _ok(admin.get(failed["links"]["federationDeployment"]))["status"] == "rolled_back"
        assert _story(admin, created["id"])[-2:] == ["integration.rollback.started",
                                                     "integration.deployment.rolled_back"]
        error_of(admin.post(f"{BASE}/deployments/{created['id']}/rollback", {}), 409, "CONFLICT")

    def test_joining_an_execution_assigns_clients_and_a_rollback_takes_only_those_off(self, admin, world):
        from flcore.models import ClientAssignment

        w = world(node_ids=(201, 202))
        solo = {**TRAINING, "config": {**TRAINING["config"], "minClients": 1}, "clients": [w["clients"][0]["id"]]}
        execution = _ok(admin.post("/api/v1/fl/executions", solo), 202)
        training = {"executionId": execution["id"], "clients": [c["id"] for c in w["clients"]]}
        created = _ok(admin.post(f"{BASE}/deploy", _body(w, federatedLearning=training,
                                                          coordination={"syncDeployment": False})), 202)
        assert created["federatedLearning"]["mode"] == "join"
        self._advance(created["id"])
        status = _ok(admin.get(f"{BASE}/deployments/{created['id']}"))
        # No worker runs the execution here: it stays queued, so the training half waits.
        assert status["status"] == "training" and status["federatedLearning"]["executionId"] == execution["id"]
        training_step = next(s for s in status["steps"] if s["name"] == "training")
        assert training_step["status"] == "running"
        assert training_step["detail"]["assignedClients"] == [w["clients"][1]["id"]]
        assert ClientAssignment.objects.filter(execution_id=execution["id"]).count() == 2

        rolled = _ok(admin.post(f"{BASE}/deployments/{created['id']}/rollback", {}))
        undo = next(s for s in rolled["steps"] if s["name"] == "rollback:training")
        assert undo["status"] == "undone" and undo["detail"]["unassignedClients"] == [w["clients"][1]["id"]]
        assert list(ClientAssignment.objects.filter(execution_id=execution["id"])
                    .values_list("client_id", flat=True)) == [uuid.UUID(w["clients"][0]["id"])]
        assert _ok(admin.get(f"/api/v1/fl/executions/{execution['id']}"))["status"] == "queued"

    def test_a_resumed_execution_is_stopped_again_by_the_rollback(self, admin, world):
        w = world(node_ids=(401, 402))
        execution = _ok(admin.post("/api/v1/fl/executions", {**TRAINING, "clients": [c["id"] for c in w["clients"]]}),
                        202)
        assert _ok(admin.post(f"/api/v1/fl/executions/{execution['id']}/stop", {}), 202)["status"] == "stopped"
        training = {"executionId": execution["id"], "clients": [c["id"] for c in w["clients"]]}
        created = _ok(admin.post(f"{BASE}/deploy", _body(w, federatedLearning=training)), 202)
        assert created["federatedLearning"]["mode"] == "resume"
        self._advance(created["id"])
        assert _ok(admin.get(f"/api/v1/fl/executions/{execution['id']}"))["status"] == "queued"  # queued again
        rolled = _ok(admin.post(f"{BASE}/deployments/{created['id']}/rollback", {}))
        assert {s["name"]: s["status"] for s in rolled["steps"]}["rollback:training"] == "undone"
        assert _ok(admin.get(f"/api/v1/fl/executions/{execution['id']}"))["status"] == "stopped"

    def test_an_unexpected_error_in_a_step_ends_the_deployment_instead_of_leaving_it_hanging(self, admin, world):
        from fedplane.integration.services.deploy import deployment_abort

        w = world(node_ids=(601, 602))
        created = _ok(admin.post(f"{BASE}/deploy", _body(w, coordination={"rollbackOnFailure": False})), 202)
        deployment_abort(created["id"], message="RuntimeError: boom")  # what the task does when a step raises
        failed = _ok(admin.get(f"{BASE}/deployments/{created['id']}"))
        assert failed["status"] == "failed"
        assert failed["error"] == {"code": "INTERNAL_ERROR", "message": "RuntimeError: boom"}

    def test_a_task_that_runs_after_a_rollback_does_nothing(self, admin, world):
        """The rollback and the task lock the same row: whichever comes second sees the first's result."""
        w = world(node_ids=(501, 502))
        created = _ok(admin.post(f"{BASE}/deploy", _body(w)), 202)
        rolled = _ok(admin.post(f"{BASE}/deployments/{created['id']}/rollback", {}))
        assert rolled["status"] == "rolled_back" and rolled["federation"]["deploymentId"] is None
        self._advance(created["id"])
        after = _ok(admin.get(f"{BASE}/deployments/{created['id']}"))
        assert after["status"] == "rolled_back" and after["federation"]["deploymentId"] is None
        assert after["federatedLearning"]["executionId"] is None
        assert _story(admin, created["id"]) == ["integration.deployment.started", "integration.rollback.started",
                                                "integration.deployment.rolled_back"]


# -- live: the real Celery worker -------------------------------------------------------------------

@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_a_training_half_that_cannot_start_rolls_the_modules_back(admin, world, celery_worker):
    w = world(node_ids=(301, 302))
    _ok(admin.put(f"/api/v1/fl/clients/{w['clients'][1]['id']}/status", {"status": "offline"}))
    created = _ok(admin.post(f"{BASE}/deploy", _body(w)), 202)

    final = wait_until(lambda: (d := _ok(admin.get(f"{BASE}/deployments/{created['id']}")))["status"]
                       in ("rolled_back", "failed", "completed") and d, timeout=60, interval=0.3,
                       message="unified deployment settled")
    assert final["status"] == "rolled_back", final
    assert final["error"]["code"] == "FL005"
    steps = {s["name"]: s for s in final["steps"]}
    assert steps["training"]["detail"]["offline"] == [w["clients"][1]["id"]]
    assert steps["rollback:federation"]["status"] == "undone"
    assert _ok(admin.get(final["links"]["federationDeployment"]))["status"] == "rolled_back"
    assert final["federatedLearning"]["executionId"] is None  # nothing was started
    assert _story(admin, created["id"]) == [
        "integration.deployment.started", "integration.federation.deployed", "integration.training.failed",
        "integration.rollback.started", "integration.deployment.rolled_back"]
    # The Module Federation half told its own story in between, in the same order.
    history = admin.get(f"{BASE}/events", data={"limit": 100, "system": "federation"}).json()["data"]
    mf_id = final["federation"]["deploymentId"]
    assert [e["event"] for e in history if e["data"].get("deploymentId") == mf_id] == [
        "application.deploying", "application.deployed", "application.rolled_back"]


@pytest.mark.live
@pytest.mark.flower
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(300)
def test_sync_deployment_starts_training_after_the_modules_and_records_the_relations(
        admin, world, celery_worker, fl_worker, join_clients, digits):
    from fedplane.integration.models import ModelRequirement, ModuleClientDeployment, TriggeredExecution

    w = world(node_ids=())
    w["clients"] = [{"id": c.id} for c in join_clients(digits[0][:2])]
    created = _ok(admin.post(f"{BASE}/deploy", _body(w, environment="production")), 202)

    done = wait_until(lambda: (d := _ok(admin.get(f"{BASE}/deployments/{created['id']}")))["status"]
                      in ("completed", "rolled_back", "failed") and d, timeout=120, interval=0.5,
                      message="unified deployment settled")
    assert done["status"] == "completed", done
    assert _story(admin, created["id"]) == [
        "integration.deployment.started", "integration.federation.deployed", "integration.training.started",
        "integration.deployment.completed"]
    execution_id = done["federatedLearning"]["executionId"]
    assert done["federatedLearning"]["startedExecution"] is True
    assert TriggeredExecution.objects.filter(application_id=w["app"]["id"], execution_id=execution_id).exists()
    assert sorted(ModuleClientDeployment.objects.filter(environment="production").values_list("version", flat=True)) \
        == ["2.0.0"] * 4  # 2 modules x 2 clients

    # The one round runs to its end; its aggregated model requires the application's shared dependency.
    final = wait_until(lambda: (d := _ok(admin.get(f"{BASE}/deployments/{created['id']}")))["coordinatedRound"]
                       and d["federatedLearning"]["executionStatus"] in ("completed", "failed") and d,
                       timeout=150, interval=0.5, message="execution finished")
    assert final["federatedLearning"]["executionStatus"] == "completed"
    assert final["coordinatedRound"]["roundNumber"] == 1
    assert ModelRequirement.objects.filter(aggregated_model__execution_id=execution_id,
                                           dependency__package="react").count() == 1

    rolled = _ok(admin.post(f"{BASE}/deployments/{created['id']}/rollback", {"reason": "test over"}))
    assert rolled["status"] == "rolled_back"
    assert not ModuleClientDeployment.objects.filter(deployment_id=created["id"]).exists()
