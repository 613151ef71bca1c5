"""Simulations through the whole platform: REST API, Celery worker, Flower's Simulation Engine on a
local Ray, fedplane's own ClientApp on each virtual client's partition of the digits."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from safetensors.numpy import load as load_safetensors

from .conftest import events_of, wait_for_status

pytestmark = [pytest.mark.live, pytest.mark.flower, pytest.mark.django_db(transaction=True),
              pytest.mark.timeout(900)]

CONFIG = {"rounds": 2, "minClients": 100, "numSupernodes": 100, "localEpochs": 1, "batchSize": 8,
          "learningRate": 0.1, "dataset": "digits", "partitioning": {"method": "dirichlet", "alpha": 1.0, "seed": 3}}


def _checkpoint(http, execution_id: str, round_number: int) -> dict[str, np.ndarray]:
    response = http.get(f"/fl/executions/{execution_id}/rounds/{round_number}/checkpoint")
    assert response.status_code == 200, response.text
    return load_safetensors(response.content)


def _fedavg_of_local_training(start: dict[str, np.ndarray], run_config: dict, folder: Path, partitions: int,
                              round_number: int) -> dict[str, np.ndarray]:
    """What every virtual client's training from `start` gives, averaged by examples: the round's
    model as FedAvg must make it, computed here without Flower or Ray."""
    import torch

    from flcore.runtime.model import build_model, load_data, train

    total, weighted = 0, {k: np.zeros_like(v, dtype=np.float64) for k, v in start.items()}
    config = {**run_config, "server-round": round_number}
    for partition in range(partitions):
        data = load_data(folder / f"partition-{partition}.npz", config)
        model = build_model(config)
        model.load_state_dict({k: torch.as_tensor(v) for k, v in start.items()})
        train(model, data, config)
        examples = len(data.y_train)
        total += examples
        for key, value in model.state_dict().items():
            weighted[key] += value.numpy().astype(np.float64) * examples
    return {k: (v / total).astype(np.float32) for k, v in weighted.items()}


def test_100_virtual_clients_each_update_recorded_and_the_model_is_their_fedavg(fl_http, fl_worker):
    from flcore.runtime.model import initial_arrays
    from flcore.services.training_plan import model_spec_of

    created = fl_http.post("/fl/executions", json={"algorithm": "fedavg", "runtime": "simulation",
                                                   "config": CONFIG,
                                                   "backendConfig": {"clientResources": {"numCpus": 1}}})
    assert created.status_code == 202, created.text
    execution = created.json()["data"]
    assert execution["runtime"] == "simulation" and execution["status"] == "queued"
    assert execution["config"]["inputDim"] == 64 and execution["config"]["numClasses"] == 10  # from the dataset
    summary = execution["dataPartitioning"]
    assert summary["numPartitions"] == 100 and summary["method"] == "dirichlet" and summary["alpha"] == 1.0
    assert summary["dataset"]["ref"] == "digits" and summary["dataset"]["samples"] == 1797

    final = wait_for_status(fl_http, execution["id"], timeout=600)
    assert final["status"] == "completed", final
    assert final["currentRound"] == 2 and final["participatingClients"] == 100

    partitioning = fl_http.get(f"/fl/executions/{execution['id']}/partitioning").json()["data"]["partitioning"]
    sizes = partitioning["sizes"]
    assert len(sizes) == 100 and sum(sizes) == 1797 and min(sizes) >= 2
    assert [sum(counts) for counts in partitioning["labelCounts"]] == sizes

    run_config = {**model_spec_of(final["config"]), "local-epochs": 1, "batch-size": 8, "learning-rate": 0.1}
    folder = settings.FEDPLANE_ARTIFACT_ROOT / "simulations" / execution["id"] / "partitions"
    model = {k: v.numpy() for k, v in initial_arrays(run_config).items()}
    for round_number in (1, 2):
        detail = fl_http.get(f"/fl/executions/{execution['id']}/rounds/{round_number}").json()["data"]
        for phase in ("train", "evaluate"):
            updates = [u for u in detail["updates"] if u["phase"] == phase]
            assert sorted(u["partitionId"] for u in updates) == list(range(100)), phase
            assert all(u["numExamples"] > 0 and not u["error"] for u in updates)
        assert sorted(detail["participatingClients"]) == sorted(f"partition:{i}" for i in range(100))
        assert detail["settings"] == {"roundTimeoutSeconds": 600.0, "minResponders": 100,
                                      "acceptedFailureFraction": 1.0}
        expected = _fedavg_of_local_training(model, run_config, folder, 100, round_number)
        model = _checkpoint(fl_http, execution["id"], round_number)
        assert sorted(model) == sorted(expected)
        for key in expected:
            np.testing.assert_allclose(model[key], expected[key], rtol=0, atol=2e-6, err_msg=key)

    events = events_of(fl_http, execution["id"])
    started = [e["data"] for e in events if e["event"] == "execution.simulation_started"]
    assert len(started) == 1 and started[0]["numSupernodes"] == 100 and started[0]["cluster"]["local"] is True
    assert started[0]["clientResources"] == {"num_cpus": 1.0, "num_gpus": 0.0}
    kinds = [e["event"] for e in events]
    assert kinds.count("client.update_received") == 200 and kinds.count("round.completed") == 2


def test_bad_simulation_input_is_refused_with_the_cause(fl_http):
    def refused(body: dict, field: str, status: int = 422) -> dict:
        response = fl_http.post("/fl/executions", json={"algorithm": "fedavg", "runtime": "simulation", **body})
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert field in str(error["details"]) or field in error["message"], error
        return error

    base = {"rounds": 1, "minClients": 1}
    refused({"config": {**base, "numSupernodes": 0}}, "numSupernodes")
    refused({"config": {**base, "numSupernodes": settings.FLCORE_SIMULATION_MAX_SUPERNODES + 1}}, "numSupernodes")
    refused({"config": base}, "numSupernodes")
    refused({"config": {**base, "numSupernodes": 5, "dataset": "imagenet"}}, "imagenet")
    refused({"config": {**base, "numSupernodes": 1000}}, "898")  # digits: 1,797 samples, 2 per client at least
    refused({"config": {**base, "numSupernodes": 5},
             "backendConfig": {"clientResources": {"numCpus": settings.FLCORE_SIMULATION_CPUS + 1}}}, "numCpus")
    refused({"config": {**base, "minClients": 6, "numSupernodes": 5}}, "minClients")
    refused({"config": {**base, "numSupernodes": 5, "partitioning": {"method": "shards"}}}, "method")
    assert refused({"config": {**base, "numSupernodes": 5, "inputDim": 32}}, "inputDim")["code"] == "FL006"
    deployment = fl_http.post("/fl/executions", json={"algorithm": "fedavg", "config": {**base, "numSupernodes": 5}})
    assert deployment.status_code == 422 and "numSupernodes" in str(deployment.json()["error"]["details"])


def test_a_simulation_takes_no_registered_clients_and_no_more_minimum_than_it_has(fl_http):
    base = {"rounds": 1, "minClients": 1}
    created = fl_http.post("/fl/executions", json={"algorithm": "fedavg", "runtime": "simulation",
                                                   "config": {**base, "numSupernodes": 5}}).json()["data"]
    assert fl_http.post(f"/fl/executions/{created['id']}/stop", json={}).json()["data"]["status"] == "stopped"
    client = fl_http.post("/fl/clients", json={"name": "a-real-site"}).json()["data"]
    assign = fl_http.post(f"/fl/clients/{client['id']}/assign", json={"executionId": created["id"]})
    assert assign.status_code == 409 and "virtual clients" in assign.json()["error"]["message"]
    resume = fl_http.post(f"/fl/executions/{created['id']}/resume", json={"adjustConfig": {"minClients": 6}})
    assert resume.status_code == 422 and "numSupernodes" in resume.json()["error"]["message"]


def test_dataset_upload_checks_the_file_and_simulates_on_it(fl_http, fl_worker, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + 2 * (x[:, 1] > 0)  # 4 classes a linear model can learn
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y)
    upload = fl_http.post("/fl/datasets", params={"name": "quadrants.npz"}, content=buffer.getvalue(),
                          headers={"Content-Type": "application/octet-stream"})
    assert upload.status_code == 201, upload.text
    dataset = upload.json()["data"]
    assert (dataset["numSamples"], dataset["numFeatures"], dataset["numClasses"]) == (300, 5, 4)

    nan = io.BytesIO()
    np.savez(nan, x=np.full((4, 2), np.nan), y=np.zeros(4))
    for name, content in (("broken.npz", b"not a zip"), ("nan.npz", nan.getvalue()), ("table.txt", b"a,b")):
        bad = fl_http.post("/fl/datasets", params={"name": name}, content=content,
                           headers={"Content-Type": "application/octet-stream"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "VALIDATION_ERROR", bad.text
    csv = "f1,f2,label\n0.1,0.2,0\n0.3,0.1,1\n0.5,0.9,-1\n"
    negative = fl_http.post("/fl/datasets", params={"name": "t.csv"}, content=csv.encode(),
                            headers={"Content-Type": "text/csv"})
    assert negative.status_code == 422 and "labels" in negative.json()["error"]["message"]

    created = fl_http.post("/fl/executions", json={
        "algorithm": "fedavg", "runtime": "simulation",
        "config": {"rounds": 1, "minClients": 10, "numSupernodes": 10, "dataset": dataset["id"], "localEpochs": 2,
                   "partitioning": {"method": "iid", "seed": 1}}})
    assert created.status_code == 202, created.text
    execution = created.json()["data"]
    assert execution["config"]["inputDim"] == 5 and execution["config"]["numClasses"] == 4
    assert fl_http.delete(f"/fl/datasets/{dataset['id']}").status_code == 409  # its execution may resume
    final = wait_for_status(fl_http, execution["id"], timeout=600)
    assert final["status"] == "completed", final
    detail = fl_http.get(f"/fl/executions/{execution['id']}/rounds/1").json()["data"]
    assert sum(u["numExamples"] for u in detail["updates"] if u["phase"] == "train") == 300 - 10 * 6  # 20% held out
