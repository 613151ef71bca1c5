"""Training a user can trust, through the whole platform (REST API, Celery worker, Flower's
Simulation Engine): a Byzantine client under Krum, NaN updates kept out and recorded, too few
valid updates failing with FL004, and a diverging run ending with FL008."""
from __future__ import annotations

import pytest

from .conftest import events_of, wait_for_status

pytestmark = [pytest.mark.live, pytest.mark.flower, pytest.mark.django_db(transaction=True),
              pytest.mark.timeout(600)]

APPS = "tests.support.hostile_app"
BASE = {"rounds": 3, "numSupernodes": 10, "minClients": 10, "localEpochs": 3, "batchSize": 16, "learningRate": 0.1,
        "dataset": "digits", "roundTimeoutSeconds": 120}


def _simulate(http, algorithm: str, **config) -> dict:
    response = http.post("/fl/executions", json={"algorithm": algorithm, "runtime": "simulation",
                                                 "config": {**BASE, **config}})
    assert response.status_code == 202, response.text
    return wait_for_status(http, response.json()["data"]["id"], timeout=300)


def _round(http, execution_id: str, number: int) -> dict:
    return http.get(f"/fl/executions/{execution_id}/rounds/{number}").json()["data"]


def test_krum_trains_on_despite_a_client_sending_garbage(fl_http, fl_worker):
    listed = {s["name"]: s for s in fl_http.get("/fl/strategies").json()["data"]["strategies"]}
    assert listed["krum"]["byzantineRobust"] and [o["name"] for o in listed["krum"]["options"]] == ["numMaliciousNodes"]

    final = _simulate(fl_http, "krum", clientApp=f"{APPS}:garbage_app", strategyOptions={"numMaliciousNodes": 1})
    assert final["status"] == "completed", final
    # Krum keeps one honest client's model a round (0.75 after 3 rounds here); FedAvg's is noise (~0.2).
    assert final["metrics"]["accuracy"] >= 0.6, final["metrics"]
    model = fl_http.get(f"/fl/executions/{final['id']}/rounds/3/checkpoint")
    assert model.status_code == 200 and model.content


def test_nan_updates_are_kept_out_and_recorded_and_too_few_valid_fail_with_fl004(fl_http, fl_worker):
    tolerant = _simulate(fl_http, "fedavg", rounds=2, minClients=9, clientApp=f"{APPS}:nan_app")
    assert tolerant["status"] == "completed" and tolerant["participatingClients"] == 9, tolerant
    trained = [u for u in _round(fl_http, tolerant["id"], 2)["updates"] if u["phase"] == "train"]
    rejected = [u for u in trained if u["rejection"]]
    assert [u["partitionId"] for u in rejected] == [0], trained
    assert rejected[0]["rejection"] == "array '0.weight' has 1 non-finite value(s) (NaN or Inf)"
    assert [e for e in events_of(fl_http, tolerant["id"]) if e["event"] == "client.update_rejected"]

    strict = _simulate(fl_http, "fedavg", rounds=2, minResponders=10, clientApp=f"{APPS}:nan_app")
    assert strict["status"] == "failed" and strict["error"]["code"] == "FL004", strict
    details = strict["error"]["details"]
    assert details["round"] == 1 and [r["reason"] for r in details["rejectedUpdates"]] == [rejected[0]["rejection"]]
    round1 = _round(fl_http, strict["id"], 1)
    assert round1["status"] == "failed" and round1["completedAt"], round1
    assert sum(1 for u in round1["updates"] if u["rejection"]) == 1


def test_a_diverging_training_ends_with_fl008_when_it_asks_to(fl_http, fl_worker):
    final = _simulate(fl_http, "fedavg", rounds=5, clientApp=f"{APPS}:rising_app",
                      divergence={"factor": 1.5, "rounds": 2})
    assert final["status"] == "failed" and final["error"]["code"] == "FL008", final
    assert final["error"]["details"]["round"] == 3 and final["error"]["details"]["recent"] == [10.0, 20.0, 30.0]
    assert _round(fl_http, final["id"], 3)["status"] == "failed"
    assert final["currentRound"] == 2  # the last good checkpoint is round 2's
