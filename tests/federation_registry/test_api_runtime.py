"""Runtime configuration, the public shell endpoint (ETag/304), deployments: blue-green,
canary stable per shell, automatic and manual rollback, and an event per transition."""
from __future__ import annotations

import pytest
from django.test import Client

from fedplane.events.models import Event
from federation_registry.services.runtime import in_canary
from tests.api.helpers import data_of, error_of

pytestmark = pytest.mark.django_db
FED = "/api/v1/federation"


def shell(app_ref: str, env: str = "production", **headers):
    client_id = headers.pop("client_id", None)
    return Client().get(f"{FED}/runtime/{app_ref}/shell/{env}", data={"clientId": client_id} if client_id else {},
                        **headers)


@pytest.fixture
def shop(mf, make_app, make_module):
    app = make_app("shop")
    module = make_module(app["id"], "catalog", "http://cdn.local/catalog/1.0.0/remoteEntry.js", version="1.0.0",
                         exposedModules=["./List"])
    data_of(mf.post(f"{FED}/dependencies", {"package": "react", "version": "18.2.0", "singleton": True,
                                            "requiredVersion": "^18.0.0", "applications": [app["id"]]}), 201)
    return app, module


def test_runtime_config_get_put(mf, shop):
    app, _ = shop
    config = data_of(mf.get(f"{FED}/runtime/{app['id']}"))["data"]
    assert config["remotes"] == {"catalog": "http://cdn.local/catalog/1.0.0/remoteEntry.js"}
    assert config["shared"]["react"]["shareConfig"]["singleton"] is True
    body = {"publicPath": "https://cdn.local/shop/", "chunkLoadTimeout": 30000,
            "remotes": {"legacy": "legacy@http://cdn.local/legacy/remoteEntry.js"},
            "shared": {"react": {"requiredVersion": "^18.2.0", "strictVersion": True}}}
    config = data_of(mf.put(f"{FED}/runtime/{app['id']}", body))["data"]
    assert config["chunkLoadTimeout"] == 30000 and "legacy" in config["remotes"]
    assert config["shared"]["react"]["shareConfig"] == {"singleton": True, "requiredVersion": "^18.2.0",
                                                        "strictVersion": True, "eager": False}
    for bad in ({"chunkLoadTimeout": -1}, {"remotes": {"x": "nope"}}, {"shared": {"react": {"singleton": "maybe"}}},
                {"shared": {"react": {"requiredVersion": ">>1"}}}, {"remotes": {"catalog": "http://a.b/e.js"}}):
        assert mf.put(f"{FED}/runtime/{app['id']}", bad).status_code == 422, bad
    error_of(mf.get(f"{FED}/runtime/00000000-0000-0000-0000-000000000001"), 404, "MF001")


def test_shell_endpoint_is_public_cacheable_and_answers_304(shop):
    app, module = shop
    response = shell(app["id"])
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    doc = response.json()
    assert doc["remotes"] == [{"name": "catalog", "alias": "catalog", "entry": module["url"],
                               "entryGlobalName": "catalog", "shareScope": "default"}]
    assert doc["versions"] == {"catalog": "1.0.0"}
    assert doc["shared"]["react"] == {"version": "18.2.0", "scope": "default", "shareConfig": {
        "singleton": True, "requiredVersion": "^18.0.0", "strictVersion": False, "eager": False}}
    assert doc["webpack"]["remotes"] == {"catalog": f"catalog@{module['url']}"}
    assert doc["webpack"]["dynamicRemotes"][0] == {"url": module["url"], "scope": "catalog", "modules": ["./List"]}
    etag = response["ETag"]
    assert "public" in response["Cache-Control"]
    assert shell(app["id"], HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert shell(app["id"], HTTP_IF_NONE_MATCH=f'"other", W/{etag}').status_code == 304
    assert shell("shop").json() == doc  # by name too
    error_of(shell("nope"), 404, "MF001")
    error_of(shell(app["id"], env="moon"), 404, "NOT_FOUND")
    error_of(Client().post(f"{FED}/runtime/{app['id']}/shell/production"), 405)


def test_blue_green_switches_at_once_and_rolls_back(mf, shop):
    app, module = shop
    before = shell(app["id"])
    deployment = data_of(mf.post(f"{FED}/applications/{app['id']}/deploy", {
        "environment": "production", "strategy": "blue-green",
        "config": {"modules": [{"moduleId": module["id"], "url": "http://cdn.local/catalog/2.0.0/remoteEntry.js",
                                "version": "2.0.0"}]}}), 202)["data"]
    assert deployment["status"] == "completed" and deployment["trafficPercent"] == 100
    after = shell(app["id"], HTTP_IF_NONE_MATCH=before["ETag"])
    assert after.status_code == 200 and after.json()["remotes"][0]["entry"].endswith("/2.0.0/remoteEntry.js")
    assert shell(app["id"], env="staging").json()["versions"]["catalog"] == "1.0.0"  # other environments untouched
    rolled = data_of(mf.post(f"{FED}/deployments/{deployment['id']}/rollback", {"reason": "bad release"}))["data"]
    assert rolled["status"] == "rolled_back"
    assert shell(app["id"]).json()["versions"]["catalog"] == "1.0.0"
    types = list(Event.objects.filter(data__deploymentId=deployment["id"]).values_list("type", flat=True))
    assert types == ["application.deploying", "application.deployed", "application.rolled_back"]
    assert [t["to"] for t in rolled["transitions"]] == ["in_progress", "completed", "rolled_back"]
    error_of(mf.post(f"{FED}/deployments/{deployment['id']}/rollback", {}), 409, "CONFLICT")


def _canary(mf, app, module, **config):
    return data_of(mf.post(f"{FED}/applications/{app['id']}/deploy", {
        "environment": "production", "strategy": "canary",
        "config": {"modules": [{"moduleId": module["id"], "url": "http://cdn.local/catalog/2.0.0/remoteEntry.js",
                                "version": "2.0.0"}], **config}}), 202)["data"]


def test_canary_is_stable_per_shell_and_widens(mf, shop):
    app, module = shop
    d = _canary(mf, app, module, steps=[10, 50, 100], thresholds={"autoPromote": False})
    clients = [f"shell-{i}" for i in range(400)]
    served = {c: shell(app["id"], client_id=c).json()["versions"]["catalog"] for c in clients}
    canary = {c for c, v in served.items() if v == "2.0.0"}
    assert 20 <= len(canary) <= 65  # ~10% of 400
    assert all(shell(app["id"], client_id=c).json()["versions"]["catalog"] == "2.0.0" for c in list(canary)[:10])
    assert shell(app["id"]).json()["versions"]["catalog"] == "1.0.0"  # no client id: stable
    error_of(mf.post(f"{FED}/applications/{app['id']}/deploy", {"environment": "production",
                                                                "strategy": "blue-green"}), 409, "MF005")
    promoted = data_of(mf.post(f"{FED}/deployments/{d['id']}/promote", {}))["data"]
    assert promoted["trafficPercent"] == 50
    widened = {c for c in clients if shell(app["id"], client_id=c).json()["versions"]["catalog"] == "2.0.0"}
    assert canary <= widened and 150 <= len(widened) <= 250
    done = data_of(mf.post(f"{FED}/deployments/{d['id']}/promote", {}))["data"]
    assert done["status"] == "completed"
    assert shell(app["id"]).json()["versions"]["catalog"] == "2.0.0"
    assert Event.objects.filter(type="application.deployment_step", data__deploymentId=d["id"]).count() == 1


def test_canary_rolls_back_on_its_own_when_errors_break_the_threshold(mf, shop):
    app, module = shop
    d = _canary(mf, app, module, steps=[50, 100], thresholds={"errorRate": 0.2, "minSamples": 10})
    inside = [c for c in (f"c{i}" for i in range(200)) if in_canary(d["id"], c, 50)]
    outside = [c for c in (f"c{i}" for i in range(200)) if not in_canary(d["id"], c, 50)]
    for i, client in enumerate(inside[:10]):
        body = {"applicationId": app["id"], "environment": "production", "clientId": client,
                "samples": [{"moduleId": module["id"], "loadTime": 120 + i, "error": "ChunkLoadError" if i % 2 else None}]}
        result = data_of(mf.post(f"{FED}/telemetry", body), 202)["data"]
        assert result["variant"] == "canary"
    assert result["deployment"]["status"] == "rolled_back" and result["deployment"]["evidence"]["broken"] == "errorRate"
    assert shell(app["id"], client_id=inside[0]).json()["versions"]["catalog"] == "1.0.0"
    event = Event.objects.get(type="application.rolled_back", data__deploymentId=d["id"])
    assert event.data["automatic"] is True and event.severity == "warning"
    stable = data_of(mf.post(f"{FED}/telemetry", {"applicationId": "shop", "environment": "production",
                                                   "clientId": outside[0], "samples": [{"module": "catalog",
                                                                                         "loadTime": 80}]}), 202)
    assert stable["data"]["variant"] == "stable"


def test_healthy_canary_promotes_itself(mf, shop):
    app, module = shop
    d = _canary(mf, app, module, steps=[50, 100], thresholds={"errorRate": 0.2, "minSamples": 3, "loadTimeMs": 500})
    inside = [c for c in (f"h{i}" for i in range(100)) if in_canary(d["id"], c, 50)][:3]
    for client in inside:
        result = data_of(mf.post(f"{FED}/telemetry", {"applicationId": app["id"], "environment": "production",
                                                      "clientId": client,
                                                      "samples": [{"moduleId": module["id"], "loadTime": 90}]}), 202)
    assert result["data"]["deployment"]["status"] == "completed"


def test_deploy_and_telemetry_validation(mf, shop):
    app, module = shop
    url = f"{FED}/applications/{app['id']}/deploy"
    for bad in ({"environment": "mars", "strategy": "canary"}, {"environment": "production", "strategy": "big-bang"},
                {"environment": "production", "strategy": "canary", "config": {"steps": [50, 10, 100]}},
                {"environment": "production", "strategy": "canary", "config": {"thresholds": {"errorRate": 2}}}):
        error_of(mf.post(url, bad), 422, "VALIDATION_ERROR")
    error_of(mf.post(url, {"environment": "production", "strategy": "canary",
                           "config": {"modules": [{"moduleId": "nope"}]}}), 422, "MF004")
    error_of(mf.post(f"{FED}/telemetry", {"applicationId": app["id"], "environment": "production", "clientId": "c",
                                          "samples": []}), 422)
    error_of(mf.post(f"{FED}/telemetry", {"applicationId": app["id"], "environment": "production", "clientId": "c",
                                          "samples": [{"module": "ghost", "loadTime": 1}]}), 422, "MF004")


def test_resolve_endpoint_reports_conflicts_and_emits_events(mf, make_app):
    shell_app, remote = make_app("host"), make_app("remote")
    data_of(mf.post(f"{FED}/dependencies", {"package": "react", "version": "17.0.2", "singleton": True,
                                            "strictVersion": True, "requiredVersion": "^17.0.0",
                                            "applications": [shell_app["id"]]}), 201)
    data_of(mf.post(f"{FED}/dependencies", {"package": "react", "version": "18.2.0", "singleton": True,
                                            "applications": [remote["id"]]}), 201)
    body = {"applications": [shell_app["id"], remote["id"]], "strategy": "highest"}
    report = data_of(mf.post(f"{FED}/dependencies/resolve", body))["data"]
    host = report["applications"][0]["shared"]["react"]
    assert host["version"] == "18.2.0" and host["errors"][0]["code"] == "MF006"
    assert report["conflicts"][0]["code"] == "MF003" and report["resolved"] is False
    assert Event.objects.filter(type="dependency.conflict").exists()
    pinned = data_of(mf.post(f"{FED}/dependencies/resolve", {**body, "strategy": "manual",
                                                            "overrides": {"react": "17.0.2"}}))["data"]
    assert pinned["applications"][1]["shared"]["react"]["version"] == "17.0.2"
    error_of(mf.post(f"{FED}/dependencies/resolve", {**body, "strategy": "manual"}), 422)
    error_of(mf.post(f"{FED}/dependencies/resolve", {**body, "strategy": "newest"}), 422)
    error_of(mf.post(f"{FED}/dependencies", {"package": "React!", "version": "1.0.0"}), 422)
