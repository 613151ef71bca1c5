"""Cross-system monitoring: combined health, the dependency graph, the performance overview.

One world spans the three apps: two shells with modules and shared packages, executions
with clients and aggregated models, the seed's cross-system relations, and a regions
model version promoted from an aggregated model. Expected values are computed here from
the rows the test stored, not by the code under test.
"""
from __future__ import annotations

import math
import socket
from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fedplane.api.scopes import Scope
from fedplane.integration.models import ModelRequirement, ModuleClientDeployment, TriggeredExecution
from fedplane.integration.services import dependencies
from federation_registry.models import Application, ModuleMetric, RemoteModule, SharedDependency
from flcore.models import (AggregatedModel, ClientAssignment, ClientUpdate, FLClient, PerformanceMetric,
                           TrainingExecution, TrainingRound)
from regions.models import ModelVersion, RegisteredModel, RequestMetric
from regions.services import health as region_health
from regions.services.regions import region_create
from tests.api.helpers import data_of, error_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def viewer(api, make_key):
    return api.auth(make_key([Scope.FL_METRICS_VIEW])[0])


def _execution(status: str, **extra) -> TrainingExecution:
    return TrainingExecution.objects.create(model_type="classification", algorithm="fedavg", total_rounds=3,
                                            status=status, **extra)


def _aggregated(execution: TrainingExecution, round_number: int, **round_fields) -> AggregatedModel:
    round_ = TrainingRound.objects.create(execution=execution, round_number=round_number,
                                          status=round_fields.pop("status", "completed"), **round_fields)
    return AggregatedModel.objects.create(execution=execution, round=round_, round_number=round_number,
                                          algorithm="fedavg", artifact_path=f"x/{round_.pk}.safetensors",
                                          sha256="0" * 64, size_bytes=10)


def _world(tag: str = "") -> dict:
    a = Application.objects.create(name=f"shell-a{tag}", host="https://a.example", version="1.0.0",
                                   framework="react")
    b = Application.objects.create(name=f"shell-b{tag}", host="https://b.example", version="1.0.0",
                                   framework="vue")
    ma1 = RemoteModule.objects.create(application=a, name="cart", url="https://a.example/cart.js", version="1.2.0")
    ma2 = RemoteModule.objects.create(application=a, name="profile", url="https://a.example/profile.js")
    mb1 = RemoteModule.objects.create(application=b, name="search", url="https://b.example/search.js")
    react = SharedDependency.objects.create(package=f"react{tag}", version="18.2.0", required_version="^18.0.0")
    lodash = SharedDependency.objects.create(package=f"lodash{tag}", version="4.17.21", required_version="^4.17.0")
    SharedDependency.objects.create(package=f"left-pad{tag}", version="1.3.0", required_version="^1")  # unused
    react.applications.add(a, b)
    lodash.applications.add(b)
    e1 = _execution("running", worker="fl-worker@test", heartbeat_at=timezone.now())
    e2 = _execution("completed")
    e3 = _execution("completed")  # triggered by no application: reachable only through its client
    c1, c2 = FLClient.objects.create(name=f"hospital-1{tag}"), FLClient.objects.create(name=f"hospital-2{tag}")
    for execution, client in ((e1, c1), (e1, c2), (e2, c2), (e3, c1)):
        ClientAssignment.objects.create(execution=execution, client=client)
    TriggeredExecution.objects.create(application=a, execution=e1)
    TriggeredExecution.objects.create(application=b, execution=e2)
    ModuleClientDeployment.objects.create(module=ma1, client=c1, environment="production", version="1.2.0")
    ModuleClientDeployment.objects.create(module=ma1, client=c1, environment="staging", version="1.2.0")
    am1, am2, am3 = _aggregated(e1, 1), _aggregated(e2, 1), _aggregated(e3, 1)
    ModelRequirement.objects.create(dependency=react, aggregated_model=am1)
    region = region_create(name=f"us-east-1{tag}")
    registered = RegisteredModel.objects.create(name=f"digits{tag}")
    mv1 = ModelVersion.objects.create(model=registered, version="1", format="torch_state_dict", home_region=region,
                                      source={"aggregatedModelId": str(am1.pk), "executionId": str(e1.pk)})
    ModelVersion.objects.create(model=registered, version="2", format="torch_state_dict", home_region=region)
    objs = dict(a=a, b=b, ma1=ma1, ma2=ma2, mb1=mb1, react=react, lodash=lodash, e1=e1, e2=e2, e3=e3, c1=c1, c2=c2,
                am1=am1, am2=am2, am3=am3, mv1=mv1, region=region)
    kinds = {"a": "application", "b": "application", "ma1": "module", "ma2": "module", "mb1": "module",
             "react": "shared", "lodash": "shared", "e1": "execution", "e2": "execution", "e3": "execution",
             "c1": "client", "c2": "client", "am1": "aggregated_model", "am2": "aggregated_model",
             "am3": "aggregated_model", "mv1": "model_version"}
    return {"obj": objs, "id": {k: f"{kind}:{objs[k].pk}" for k, kind in kinds.items()}}


def _graph(viewer, query: str) -> dict:
    return data_of(viewer.get(f"/api/v1/integration/dependencies?{query}"))["data"]


def _edge_set(graph: dict) -> set[tuple[str, str, str]]:
    return {(e["source"], e["relation"], e["target"]) for e in graph["edges"]}


def test_the_dependency_graph_at_depth_1_2_3_and_from_named_roots(viewer):
    w = _world()["id"]
    depth1 = _graph(viewer, "view=graph&depth=1")
    assert {n["id"] for n in depth1["nodes"]} == {w[k] for k in
                                                  ("a", "b", "ma1", "ma2", "mb1", "react", "lodash", "e1", "e2")}
    edges1 = {(w["a"], "hosts", w["ma1"]), (w["a"], "hosts", w["ma2"]), (w["b"], "hosts", w["mb1"]),
              (w["a"], "uses", w["react"]), (w["b"], "uses", w["react"]), (w["b"], "uses", w["lodash"]),
              (w["a"], "triggers", w["e1"]), (w["b"], "triggers", w["e2"])}
    assert _edge_set(depth1) == edges1
    assert sorted(depth1["roots"]) == sorted([w["a"], w["b"]])

    depth2 = _graph(viewer, "view=graph")  # depth 2 is the default
    assert depth2["depth"] == 2
    assert {n["id"] for n in depth2["nodes"]} == {n["id"] for n in depth1["nodes"]} | {
        w["c1"], w["c2"], w["am1"], w["am2"]}
    edges2 = edges1 | {(w["ma1"], "deployed-to", w["c1"]), (w["e1"], "involves", w["c1"]),
                       (w["e1"], "involves", w["c2"]), (w["e2"], "involves", w["c2"]),
                       (w["e1"], "produces", w["am1"]), (w["e2"], "produces", w["am2"]),
                       (w["react"], "required-by", w["am1"])}
    assert _edge_set(depth2) == edges2
    assert len(depth2["edges"]) == len(edges2)  # one deployed-to edge for the module in two environments
    by_id = {n["id"]: n for n in depth2["nodes"]}
    assert by_id[w["a"]]["label"] == "shell-a" and by_id[w["ma1"]]["label"] == "cart@1.2.0"
    assert by_id[w["e1"]]["status"] == "running" and by_id[w["react"]]["label"] == "react@18.2.0"
    assert by_id[w["am1"]]["kind"] == "aggregated_model" and by_id[w["am1"]]["status"] == "completed"

    depth3 = _graph(viewer, "depth=3")
    assert {n["id"] for n in depth3["nodes"]} == set(by_id) | {w["e3"], w["mv1"]}
    assert _edge_set(depth3) == edges2 | {(w["e3"], "involves", w["c1"]), (w["am1"], "promoted-to", w["mv1"])}
    assert {n["status"] for n in depth3["nodes"] if n["kind"] == "model_version"} == {"registered"}
    assert w["am3"] not in {n["id"] for n in depth3["nodes"]}  # four hops away
    assert w["am3"] in {n["id"] for n in _graph(viewer, "depth=4")["nodes"]}

    # Two roots: e1 and c1 are each one hop from a root; their own edge joins the outermost level.
    named = _graph(viewer, f"root={w['a']},{w['ma1']}&depth=1")
    assert {n["id"] for n in named["nodes"]} == {w[k] for k in ("a", "ma1", "ma2", "react", "e1", "c1")}
    assert _edge_set(named) == {(w["a"], "hosts", w["ma1"]), (w["a"], "hosts", w["ma2"]),
                                (w["a"], "uses", w["react"]), (w["a"], "triggers", w["e1"]),
                                (w["ma1"], "deployed-to", w["c1"]), (w["e1"], "involves", w["c1"])}
    upstream = _graph(viewer, f"root={w['mv1']}&depth=2")  # the walk goes against edges too
    assert {n["id"] for n in upstream["nodes"]} == {w["mv1"], w["am1"], w["e1"], w["react"]}
    assert _graph(viewer, f"root={w['a']}&depth=0")["nodes"][0]["id"] == w["a"]


def test_list_and_matrix_views_agree_with_the_graph(viewer):
    _world()
    graph = _graph(viewer, "view=graph&depth=3")
    edges = _edge_set(graph)
    listed = _graph(viewer, "view=list&depth=3")
    assert [n["id"] for n in listed["nodes"]] == [n["id"] for n in graph["nodes"]]
    assert {(n["id"], d["relation"], d["target"]) for n in listed["nodes"] for d in n["dependencies"]} == edges
    assert {(d["source"], d["relation"], n["id"]) for n in listed["nodes"] for d in n["dependents"]} == edges
    matrix = _graph(viewer, "view=matrix&depth=3")
    assert matrix["nodes"] == graph["nodes"]  # the same node objects, in matrix order
    ids = [n["id"] for n in matrix["nodes"]]
    from_matrix = {(ids[i], matrix["relations"][i][j], ids[j])
                   for i, row in enumerate(matrix["matrix"]) for j, cell in enumerate(row) if cell == 1}
    assert from_matrix == edges
    assert sum(map(sum, matrix["matrix"])) == len(edges)


def test_the_graph_costs_the_same_number_of_queries_however_many_rows(django_assert_max_num_queries):
    _world()
    bound = 1 + (2 + 1) * 2 * len(dependencies.RELATIONS) + len(dependencies.KINDS)
    with CaptureQueriesContext(connection) as small:
        small_graph = dependencies.dependency_graph(view="graph", depth=2)
    for tag in ("-2", "-3", "-4"):
        _world(tag)
    with django_assert_max_num_queries(bound), CaptureQueriesContext(connection) as large:
        large_graph = dependencies.dependency_graph(view="graph", depth=2)
    assert len(large_graph["nodes"]) == 4 * len(small_graph["nodes"])
    assert len(large.captured_queries) == len(small.captured_queries)


def test_dependency_query_errors(viewer):
    w = _world()["id"]
    for query in ("depth=11", "depth=-1", "depth=two", "view=tree", "root=planet:1", "root=application:nope"):
        error = error_of(viewer.get(f"/api/v1/integration/dependencies?{query}"), 422, "VALIDATION_ERROR")
        assert error["details"], query
    error_of(viewer.get("/api/v1/integration/dependencies?root=application:00000000-0000-0000-0000-000000000001"),
             404, "NOT_FOUND")
    assert _graph(viewer, f"root={w['a']}&depth=10")["depth"] == 10


def _listening_socket() -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    return listener


def _health(viewer) -> dict:
    return data_of(viewer.get("/api/v1/integration/health"))["data"]


def test_health_reports_every_component_and_degrades_with_a_region_or_a_superlink(viewer, settings):
    settings.INTEGRATION_WORKER_PING_TIMEOUT = 0  # judge workers by the heartbeats alone here
    settings.INTEGRATION_CONNECT_TIMEOUT = 0.5
    w = _world()["obj"]
    region_create(name="eu-west-1")
    listener = _listening_socket()  # what a SuperLink does first: accept TCP connections
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    TrainingExecution.objects.filter(pk=w["e1"].pk).update(superlink_address=address)
    region_health.probe_all()  # real probes of both regions' local stores

    body = _health(viewer)
    components = body["components"]
    assert set(components) == {"database", "broker", "channelLayer", "workers", "flowerServers", "regions",
                               "modules"}
    assert {name: c["status"] for name, c in components.items()} == dict.fromkeys(components, "healthy"), body
    assert body["status"] == "healthy"
    assert all(isinstance(c["latencyMs"], (int, float)) for c in components.values())
    assert [s["address"] for s in components["flowerServers"]["detail"]["servers"]] == [address]
    assert components["flowerServers"]["detail"]["servers"][0]["executions"] == [str(w["e1"].pk)]
    assert [x["name"] for x in components["workers"]["detail"]["alive"]] == ["fl-worker@test"]
    assert {r["name"]: r["status"] for r in components["regions"]["detail"]["regions"]} == {
        "us-east-1": "healthy", "eu-west-1": "healthy"}
    assert components["modules"]["detail"]["applications"] == 2

    region_health.note_failure(w["region"], "connection refused")  # a failed probe, as recorded by regions
    body = _health(viewer)
    assert body["status"] == "degraded"
    assert body["components"]["regions"]["status"] == "degraded"
    assert {r["name"]: r["status"] for r in body["components"]["regions"]["detail"]["regions"]} == {
        "us-east-1": "down", "eu-west-1": "healthy"}
    assert body["components"]["flowerServers"]["status"] == "healthy"

    listener.close()  # the SuperLink is gone: nothing accepts on its port
    body = _health(viewer)
    servers = body["components"]["flowerServers"]
    assert servers["status"] == "down" and servers["detail"]["servers"][0]["error"]
    assert body["status"] == "degraded"

    # Asked to, the regions are probed now: us-east-1's store answers again, with one failure
    # still in its probe window.
    refreshed = data_of(viewer.get("/api/v1/integration/health?refresh=true"))["data"]
    regions = {r["name"]: r for r in refreshed["components"]["regions"]["detail"]["regions"]}
    assert regions["us-east-1"]["status"] == "degraded" and regions["us-east-1"]["consecutiveFailures"] == 0


def test_health_judges_workers_by_heartbeats_and_by_ping(viewer, settings):
    settings.INTEGRATION_WORKER_PING_TIMEOUT = 0
    w = _world()["obj"]
    Application.objects.filter(pk=w["b"].pk).update(health="critical")
    TrainingExecution.objects.filter(pk=w["e1"].pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    body = _health(viewer)
    workers = body["components"]["workers"]
    assert workers["status"] == "degraded" and workers["detail"]["staleExecutions"] == [str(w["e1"].pk)]
    modules = body["components"]["modules"]
    assert modules["status"] == "degraded"
    assert [a["name"] for a in modules["detail"]["unhealthy"]] == ["shell-b"]
    # Asked through the broker, no worker answers (none runs in this test): work would wait.
    settings.INTEGRATION_WORKER_PING_TIMEOUT = 0.3
    workers = _health(viewer)["components"]["workers"]
    assert workers["status"] == "down" and workers["detail"]["mode"] == "ping"
    assert workers["detail"]["alive"] == []


def _at(moment, **fields) -> dict:
    return {"at": moment, **fields}


def test_performance_numbers_follow_from_the_stored_metrics(viewer):
    w = _world()["obj"]
    now = timezone.now()
    old = now - timedelta(days=2)
    # Module loads: times in the last day, one failure, one telemetry report, one row from two days ago.
    times = {w["ma1"]: [120.0, 80.0, 300.0, 95.0], w["mb1"]: [40.0, 410.0]}
    for module, values in times.items():
        for value in values:
            ModuleMetric.objects.create(module=module, kind="load", load_time=value, size=1000, success=True)
    ModuleMetric.objects.create(module=w["ma1"], kind="load", success=False, error_code="MF007")
    ModuleMetric.objects.create(module=w["mb1"], kind="telemetry", load_time=55.0, success=True)
    stale = ModuleMetric.objects.create(module=w["ma2"], kind="load", load_time=9999.0, success=True)
    ModuleMetric.objects.filter(pk=stale.pk).update(created_at=old)
    loads = sorted([*times[w["ma1"]], *times[w["mb1"]], 55.0])

    # Rounds finished in the period (three of e1, one rejected) and one long ago; updates likewise.
    TrainingRound.objects.filter(execution=w["e1"]).update(started_at=now - timedelta(seconds=50),
                                                           completed_at=now - timedelta(seconds=40))
    durations = [10.0]
    for n, seconds, status in ((2, 20.0, "completed"), (3, 33.0, "rejected")):
        TrainingRound.objects.create(execution=w["e1"], round_number=n, status=status,
                                     started_at=now - timedelta(seconds=seconds + 5),
                                     completed_at=now - timedelta(seconds=5))
        durations.append(seconds)
    TrainingRound.objects.filter(execution__in=[w["e2"], w["e3"]]).update(started_at=old, completed_at=old)
    round1 = TrainingRound.objects.get(execution=w["e1"], round_number=1)
    for client, examples, error in ((w["c1"], 100, ""), (w["c2"], 300, ""), (w["c2"], 0, "expired")):
        ClientUpdate.objects.create(round=round1, client=client, node_id="1", phase="train",
                                    num_examples=examples, error=error)
    ClientUpdate.objects.create(round=round1, client=w["c1"], node_id="1", phase="evaluate", num_examples=50)
    ClientUpdate.objects.create(round=round1, client=w["c1"], node_id="1", phase="train", num_examples=999,
                                received_at=old)
    for n, (loss, accuracy) in enumerate([(1.1, 0.5), (0.6, 0.8), (0.45, 0.87)], start=1):
        PerformanceMetric.objects.create(execution=w["e1"], kind="training", name="loss", value=loss,
                                         round_number=n, recorded_at=now - timedelta(seconds=30 - n))
        PerformanceMetric.objects.create(execution=w["e1"], kind="training", name="accuracy", value=accuracy,
                                         round_number=n, recorded_at=now - timedelta(seconds=30 - n))
    PerformanceMetric.objects.create(kind="system", name="cpu", value=30.0)
    PerformanceMetric.objects.create(kind="system", name="cpu", value=50.0)
    PerformanceMetric.objects.create(kind="system", name="cpu", value=99.0, recorded_at=old)

    # Predict requests in two regions.
    latencies = {"us-east-1": [(12.0, True), (15.0, True), (90.0, False), (11.0, True)],
                 "eu-west-1": [(30.0, True), (25.0, True)]}
    for region, rows in latencies.items():
        for latency, ok in rows:
            RequestMetric.objects.create(region=region, model_name="digits", latency_ms=latency, ok=ok,
                                         status_code=200 if ok else 500)
    RequestMetric.objects.create(region="us-east-1", model_name="digits", latency_ms=5000.0, at=old)

    body = data_of(viewer.get("/api/v1/integration/performance?systems=both&period=24h"))["data"]
    assert body["systems"] == "both" and body["period"] == "24h"
    fed = body["federation"]
    assert fed["requests"] == {"total": 8, "load": 7, "telemetry": 1}
    assert fed["errors"] == {"count": 1, "rate": round(1 / 8, 4)}
    assert fed["loadTime"]["samples"] == len(loads)
    assert fed["loadTime"]["p50"] == pytest.approx(float(np.percentile(loads, 50)), abs=1e-3)
    assert fed["loadTime"]["p95"] == pytest.approx(float(np.percentile(loads, 95)), abs=1e-3)
    assert fed["loadTime"]["avg"] == pytest.approx(sum(loads) / len(loads), abs=1e-3)
    assert fed["slowestModules"][0]["name"] == "search"  # (40 + 410 + 55) / 3 beats cart's mean
    assert fed["modulesReporting"] == 2

    fl = body["fl"]
    assert fl["rounds"] == {"completed": 2, "rejected": 1,
                            "meanDurationSeconds": pytest.approx(sum(durations) / len(durations), abs=1e-3)}
    assert fl["clientUpdates"] == {"total": 4, "train": 3, "evaluate": 1, "failed": 1, "examples": 400,
                                   "clients": 2}
    assert fl["executions"]["byStatus"] == {"running": 1, "completed": 2}
    running = fl["running"]["executions"]
    assert [r["executionId"] for r in running] == [str(w["e1"].pk)]
    assert (running[0]["accuracy"], running[0]["loss"]) == (0.87, 0.45)
    assert fl["metrics"]["system"]["cpu"] == {"avg": 40.0, "min": 30.0, "max": 50.0, "samples": 2}
    assert fl["metrics"]["training"]["loss"]["samples"] == 3

    regions = body["regions"]
    everything = sorted(latency for rows in latencies.values() for latency, _ in rows)
    assert regions["requests"] == 6 and regions["errors"] == 1
    assert regions["errorRate"] == round(1 / 6, 4)
    assert regions["throughput"] == pytest.approx(6 / 86400, abs=1e-6)
    assert regions["latencyP95"] == everything[math.ceil(0.95 * len(everything)) - 1]
    us = sorted(latency for latency, _ in latencies["us-east-1"])
    assert regions["byRegion"]["us-east-1"]["latencyP95"] == us[math.ceil(0.95 * len(us)) - 1]
    assert regions["byRegion"]["eu-west-1"]["errorRate"] == 0.0

    week = data_of(viewer.get("/api/v1/integration/performance?systems=federation&period=7d"))["data"]
    assert set(week) == {"systems", "period", "from", "to", "federation"}
    assert week["federation"]["requests"]["total"] == 9 and week["federation"]["loadTime"]["p95"] == \
        pytest.approx(float(np.percentile([*loads, 9999.0], 95)), abs=1e-3)
    fl_only = data_of(viewer.get("/api/v1/integration/performance?systems=fl&period=1h"))["data"]
    assert set(fl_only) == {"systems", "period", "from", "to", "fl"}


def test_performance_rejects_unknown_systems_and_periods(viewer):
    for query in ("systems=everything", "period=2h", "period=1d", "systems=FL"):
        error = error_of(viewer.get(f"/api/v1/integration/performance?{query}"), 422, "VALIDATION_ERROR")
        assert error["details"], query


@pytest.mark.parametrize("path", ["/api/v1/integration/health", "/api/v1/integration/dependencies",
                                  "/api/v1/integration/performance"])
def test_scopes_and_credentials(api, make_key, settings, path):
    settings.INTEGRATION_WORKER_PING_TIMEOUT = 0
    error_of(api.get(path), 401, "UNAUTHORIZED")
    error_of(api.auth(make_key([Scope.REGIONS_MODELS_READ])[0]).get(path), 403, "FORBIDDEN")
    data_of(api.auth(make_key([Scope.FEDERATION_APPLICATIONS_READ])[0]).get(path))
    data_of(api.auth(make_key([Scope.FL_METRICS_VIEW])[0]).get(path))


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_health_names_the_worker_that_answers_a_broadcast_ping(api, make_key, settings, celery_worker):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.INTEGRATION_WORKER_PING_TIMEOUT = 1.0
    api.auth(make_key([Scope.FEDERATION_APPLICATIONS_READ])[0])
    workers = data_of(api.get("/api/v1/integration/health"))["data"]["components"]["workers"]
    assert workers["status"] == "healthy" and workers["detail"]["mode"] == "ping"
    # The suite's other workers (the FL stack's) may be alive too; this test's own must answer.
    mine = [w for w in workers["detail"]["alive"] if w["name"].split("@")[0] == "worker"]
    assert len(mine) == 1 and mine[0]["answeredPing"] is True
