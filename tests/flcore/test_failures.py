"""Failures a user must be able to read: a ClientApp that answers with Flower error replies fails
the execution with FL003 naming each node's error, and the interrupted round is closed as failed."""
from __future__ import annotations

import time

import pytest

from tests.support.broken_app import REASON

from .conftest import start_execution, wait_for_status

BROKEN_APP = "tests.support.broken_app:app"

pytestmark = [pytest.mark.live, pytest.mark.flower, pytest.mark.django_db(transaction=True),
              pytest.mark.timeout(600)]


def test_a_clientapp_that_cannot_be_imported_fails_with_fl003_naming_each_nodes_error(
        fl_http, fl_worker, join_clients, digits):
    clients = join_clients(digits[0][:2])
    execution = start_execution(fl_http, clients, rounds=2, minClients=2, localEpochs=1,
                                clientApp="nonexistent.module:app", roundTimeoutSeconds=60)
    started = time.monotonic()
    # Error replies come back at once: no waiting out the 60 s round timeout as for silence.
    final = wait_for_status(fl_http, execution["id"], timeout=45)
    assert time.monotonic() - started < 45
    assert final["status"] == "failed" and final["error"]["code"] == "FL003", final
    details = final["error"]["details"]
    # fedplane asks each node for its config before round 1: that first message already fails.
    assert details["phase"] == "query" and details["lostNodeIds"] == []
    nodes = {fl_http.get(f"/fl/clients/{c.id}").json()["data"]["nodeId"] for c in clients}
    assert {e["nodeId"] for e in details["nodeErrors"]} == nodes
    for error in details["nodeErrors"]:
        # Flower's reply code for a ClientApp that cannot be loaded (its process would exit with 607).
        assert (error["code"], error["codeName"]) == (1, "LOAD_CLIENT_APP_EXCEPTION"), error
        assert "nonexistent" in error["reason"], error
    assert "LOAD_CLIENT_APP_EXCEPTION" in final["error"]["message"]


def test_a_clientapp_that_raises_in_training_fails_with_fl003_and_its_round_is_closed(
        fl_http, fl_worker, join_clients, digits):
    clients = join_clients(digits[0][:2], client_app=BROKEN_APP)
    execution = start_execution(fl_http, clients, rounds=2, minClients=2, localEpochs=1,
                                clientApp=BROKEN_APP, roundTimeoutSeconds=60)
    final = wait_for_status(fl_http, execution["id"], timeout=45)
    assert final["status"] == "failed" and final["error"]["code"] == "FL003", final
    details = final["error"]["details"]
    assert details["round"] == 1 and details["phase"] == "train" and details["lostNodeIds"] == []
    assert len(details["nodeErrors"]) == 2
    for error in details["nodeErrors"]:
        assert (error["code"], error["codeName"]) == (2, "CLIENT_APP_RAISED_EXCEPTION"), error
        assert REASON in error["reason"], error

    # The round it failed in is closed, not left collecting.
    round1 = fl_http.get(f"/fl/executions/{execution['id']}/rounds/1").json()["data"]
    assert round1["status"] == "failed" and round1["completedAt"], round1


def test_an_app_that_trains_but_cannot_evaluate_keeps_its_train_updates(fl_http, fl_worker, join_clients, digits):
    app = "tests.support.broken_app:evaluate_app"
    clients = join_clients(digits[0][:2], client_app=app)
    execution = start_execution(fl_http, clients, rounds=2, minClients=2, localEpochs=1, clientApp=app,
                                roundTimeoutSeconds=60)
    final = wait_for_status(fl_http, execution["id"], timeout=60)
    assert final["status"] == "failed" and final["error"]["code"] == "FL003", final
    assert final["error"]["details"]["phase"] == "evaluate"
    round1 = fl_http.get(f"/fl/executions/{execution['id']}/rounds/1").json()["data"]
    assert round1["status"] == "failed" and round1["completedAt"], round1
    trained = [u for u in round1["updates"] if u["phase"] == "train"]
    assert sorted(u["clientId"] for u in trained) == sorted(c.id for c in clients), round1
    assert all(u["numExamples"] > 0 and not u["error"] for u in trained)
    evaluated = [u for u in round1["updates"] if u["phase"] == "evaluate"]
    assert len(evaluated) == 2 and all(REASON in u["error"] for u in evaluated), evaluated
