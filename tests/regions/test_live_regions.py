"""Three regional fedplane processes and a global one (real uvicorn), a real Celery worker.

Replication between the regions' stores with verified digests, each region serving the
same answers, a planned failover with drain under load without a single 5xx, and a
killed region reported down and failed over automatically while predictions go on.
"""
from __future__ import annotations

import hashlib
import threading

import httpx
import pytest
import torch

from tests.support.processes import start_server, wait_until

from .conftest import ALL_SCOPES, REGION_NAMES, mlp_module, price_card, torchscript_bytes

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]
ROW = [[0.1, 0.2, 0.3, 0.4]]


@pytest.fixture(scope="module")
def stack(live_env, live_logs, tmp_path_factory):
    """{name: (process, base URL)} for the three regions and `global`."""
    common = {**live_env, "REGIONS_PROBE_INTERVAL": "0", "REGIONS_PROBE_TIMEOUT": "0.5",
              "REGIONS_FAILOVER_AFTER": "2", "FEDPLANE_RATE_LIMIT_DEFAULT": "100000",
              "REGIONS_ROUTING_CACHE_SECONDS": "0.2"}
    names = [*REGION_NAMES, "global"]
    # One after the other: servers started in parallel here raced for the same free port.
    started = [start_server({**common, "FEDPLANE_REGION": n}, live_logs, f"region-{n}") for n in names]
    for _, base in started:  # the first request imports the serving code (torch); probes then measure steady state
        httpx.get(f"{base}/v2/health/ready", timeout=30)
    yield dict(zip(names, started))
    for proc, _ in started:
        proc.stop()


@pytest.fixture
def key(make_key):
    return make_key(ALL_SCOPES)[0]


@pytest.fixture
def world(stack, key, tmp_path, celery_worker):
    """Regions registered with their endpoints; model churn 1.0.0 uploaded to us-east-1 through its own API."""
    headers = {"X-API-Key": key}
    glob = httpx.Client(base_url=stack["global"][1] + "/api/v1", headers=headers, timeout=20)
    for i, name in enumerate(REGION_NAMES):
        body = {"name": name, "endpoint": stack[name][1], "store_url": (tmp_path / name).as_uri(),
                "priority": 10 * (i + 1), "price_card": {k: str(v) for k, v in price_card(name).items()}}
        assert glob.post("/regions", json=body).status_code == 201
    mlp = mlp_module(seed=11)
    east = httpx.Client(base_url=stack["us-east-1"][1] + "/api/v1", headers=headers, timeout=20)
    assert east.post("/models", json={"model_id": "churn"}).status_code == 201
    created = east.post("/models/churn/versions", json={"version": "1.0.0", "format": "torchscript",
                                                        "region": "us-east-1",
                                                        "input_schema": {"shape": [-1, 4], "dtype": "float32"}})
    assert created.status_code == 201, created.text
    uploaded = east.put("/models/churn/versions/1.0.0/artifact", content=torchscript_bytes(mlp),
                        headers={"Content-Type": "application/octet-stream"})
    assert uploaded.status_code == 200, uploaded.text
    yield {"glob": glob, "mlp": mlp, "headers": headers, "sha256": uploaded.json()["data"]["sha256"],
           "key_path": uploaded.json()["data"]["artifact_key"], "stores": tmp_path}
    glob.close()
    east.close()


def replicate_everywhere(world) -> dict:
    response = world["glob"].post("/replication/models", json={
        "model_id": "churn", "source_region": "us-east-1", "target_regions": ["eu-west-1", "ap-southeast-1"],
        "verify_checksum": True})
    assert response.status_code == 202, response.text
    replication_id = response.json()["data"]["replication_id"]

    def done():
        status = world["glob"].get(f"/replication/{replication_id}/status").json()["data"]
        return status if status["status"] != "in_progress" else None
    return wait_until(done, timeout=60, interval=0.2, message="replication finished")


def predict(client: httpx.Client, base: str = "") -> httpx.Response:
    return client.post(f"{base}/models/churn/predict", json={"inputs": ROW, "parameters": {"timeout_ms": 5000}})


def test_replicated_to_three_regions_each_serving_the_same_answer(stack, world):
    status = replicate_everywhere(world)
    assert status["status"] == "completed", status
    for result in status["results"]:
        assert result["status"] == "completed" and result["sha256"] == world["sha256"]
        landed = (world["stores"] / result["region"] / world["key_path"]).read_bytes()
        assert hashlib.sha256(landed).hexdigest() == world["sha256"]
    with torch.no_grad():
        expected = world["mlp"](torch.tensor(ROW))[:, 0].tolist()
    for name in REGION_NAMES:  # each regional process answers from its own store
        answer = predict(world["glob"], stack[name][1] + "/api/v1").json()["data"]
        assert (answer["region"], answer["predictions"]) == (name, expected)
    routed = predict(world["glob"]).json()["data"]  # the global endpoint routes to the preferred region
    assert (routed["region"], routed["predictions"]) == ("us-east-1", expected)


def test_a_corrupted_transfer_is_retried_by_the_worker_and_never_complete(stack, world, tmp_path):
    from .faulty_fs import corrupt_next_writes

    flaky = tmp_path / "ap-southeast-1-flaky"
    patched = world["glob"].patch("/regions/ap-southeast-1", json={"store_url": f"flaky://{flaky}"})
    assert patched.status_code == 200, patched.text
    corrupt_next_writes(flaky, 1)  # the first copy that lands there has a byte flipped
    response = world["glob"].post("/replication/models", json={
        "model_id": "churn", "source_region": "us-east-1", "target_regions": ["ap-southeast-1"]})
    replication_id = response.json()["data"]["replication_id"]
    seen: set[str] = set()

    def finished():
        status = world["glob"].get(f"/replication/{replication_id}/status").json()["data"]
        seen.add(status["results"][0]["status"])
        return status if status["status"] != "in_progress" else None
    status = wait_until(finished, timeout=60, interval=0.1, message="replication finished")
    result = status["results"][0]
    assert (status["status"], result["status"], result["attempts"]) == ("completed", "completed", 2)
    assert "failed" not in seen  # in progress while retrying, then completed: never complete with bad bytes
    assert hashlib.sha256((flaky / world["key_path"]).read_bytes()).hexdigest() == world["sha256"]


def test_planned_failover_with_drain_under_load_has_no_5xx(stack, world):
    replicate_everywhere(world)
    statuses: list[int] = []
    regions_seen: list[str] = []
    stop = threading.Event()

    def load():
        with httpx.Client(base_url=stack["global"][1] + "/api/v1", headers=world["headers"], timeout=20) as client:
            while not stop.is_set():
                response = predict(client)
                statuses.append(response.status_code)
                if response.status_code == 200:
                    regions_seen.append(response.json()["data"]["region"])
    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(statuses) > 20, timeout=30, message="load running")
        response = world["glob"].post("/failover", json={"from_region": "us-east-1", "to_region": "eu-west-1",
                                                          "reason": "planned_maintenance",
                                                          "drain_timeout_seconds": 10})
        assert response.status_code == 202, response.text
        failover_id = response.json()["data"]["failover_id"]
        final = wait_until(lambda: (lambda d: d if d["status"] != "in_progress" else None)(
            world["glob"].get(f"/failover/{failover_id}").json()["data"]), timeout=30, message="failover done")
        before = len(statuses)
        wait_until(lambda: len(statuses) > before + 20, timeout=30, message="load after failover")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert final["status"] == "completed" and final["drained"] is True, final
    assert set(statuses) == {200}, sorted(set(statuses))
    assert regions_seen[0] == "us-east-1" and regions_seen[-1] == "eu-west-1"
    rolled = world["glob"].post(f"/failover/{failover_id}/rollback").json()["data"]
    assert rolled["status"] == "rolled_back"
    assert predict(world["glob"]).json()["data"]["region"] == "us-east-1"


def test_the_python_sdk_against_the_global_endpoint(stack, world, key):
    from regions.sdk import ApiError, MultiRegionClient, NotFoundError, PredictionResult

    with MultiRegionClient(api_key=key, global_endpoint=stack["global"][1]) as client:
        replication = client.replicate("churn", "us-east-1", ["eu-west-1"])
        done = client.wait_replication(replication.replication_id, timeout=60, poll=0.2)
        assert done.status == "completed" and done.results[0].sha256 == world["sha256"]
        result = client.predict(model_id="churn", inputs=ROW, timeout_ms=5000)
        assert isinstance(result, PredictionResult) and result.region == "us-east-1"
        with torch.no_grad():
            assert result.predictions == world["mlp"](torch.tensor(ROW))[:, 0].tolist()
        health = client.health(refresh=True)
        assert set(health.regions) == set(REGION_NAMES)
        with pytest.raises(NotFoundError) as missing:
            client.predict(model_id="nope", inputs=ROW)
        assert missing.value.code == "MODEL_NOT_FOUND" and missing.value.status == 404
        with pytest.raises(ApiError) as bad:
            client.predict(model_id="churn", inputs=[[1.0, 2.0]])
        assert (bad.value.code, bad.value.status) == ("INVALID_INPUT", 400)


def test_region_metrics_stream_over_the_websocket(stack, world, key):
    import asyncio
    import json

    import websockets

    replicate_everywhere(world)
    assert predict(world["glob"]).status_code == 200
    url = stack["global"][1].replace("http://", "ws://") + f"/api/v1/ws?api_key={key}"

    async def first_frame() -> dict:
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"action": "stream", "type": "region_metrics", "interval": 200}))
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
                if message.get("event") == "region_metrics.stream":
                    return message["data"]
    data = asyncio.run(first_frame())
    assert set(data["health"]) == set(REGION_NAMES)
    assert data["throughput"]["us-east-1"] > 0 and data["error_rate"]["us-east-1"] == 0.0


def test_a_killed_region_is_reported_down_and_failed_over(stack, world):
    from regions.models import Failover

    replicate_everywhere(world)
    wait_until(lambda: world["glob"].get("/health", params={"refresh": 1}).json()["data"]["status"] == "healthy",
               timeout=15, interval=0.2, message="every region healthy")
    stack["us-east-1"][0].stop()  # SIGTERM to the process group; the server is gone

    # Predictions keep working: the router skips the region it cannot reach.
    answer = predict(world["glob"])
    assert answer.status_code == 200 and answer.json()["data"]["region"] != "us-east-1"

    def reported_down():
        body = world["glob"].get("/health", params={"refresh": 1}).json()["data"]
        return body if body["regions"]["us-east-1"]["status"] == "down" else None
    body = wait_until(reported_down, timeout=10, interval=0.2, message="us-east-1 reported down")
    assert body["status"] == "degraded" and body["regions"]["eu-west-1"]["status"] != "down", body
    failover = wait_until(lambda: Failover.objects.filter(automatic=True, from_region__name="us-east-1").first(),
                          timeout=10, interval=0.2, message="automatic failover")
    assert failover.to_region.name == "eu-west-1"
    answers = [predict(world["glob"]) for _ in range(10)]
    assert {a.status_code for a in answers} == {200}
    assert {a.json()["data"]["region"] for a in answers} == {"eu-west-1"}
