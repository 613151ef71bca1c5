"""Twenty real SuperNodes (`fedplane-client join` processes) train one execution for two
rounds; between the rounds one of them leaves and a new one joins."""
from __future__ import annotations

import numpy as np
import pytest

from flcore.export import load_exported
from tests.support.held_app import hold_path, holding_path
from tests.support.processes import wait_until

from .conftest import events_of, start_execution, wait_for_status

pytestmark = [pytest.mark.live, pytest.mark.flower, pytest.mark.django_db(transaction=True),
              pytest.mark.timeout(600)]

CLIENTS = 20
# numpy's MLP, not torch's: 21 clients are 63 Python processes on a 2-core CI machine.
# The held app is that app plus holds the test uses to order what happens between the rounds.
HELD_APP = "tests.support.held_app:app"


def _round(http, execution_id: str, round_number: int) -> tuple[list[str], list[str], set[str]]:
    """(clients whose training was stored, clients whose evaluation was, nodes that contributed
    nothing: lost, or answered by Flower's "node unavailable" error reply)."""
    detail = http.get(f"/fl/executions/{execution_id}/rounds/{round_number}").json()["data"]
    by_phase = {phase: sorted(u["clientId"] for u in detail["updates"] if u["phase"] == phase and not u["error"])
                for phase in ("train", "evaluate")}
    absent = {*detail["lost_node_ids"], *(u["nodeId"] for u in detail["updates"] if u["error"])}
    return by_phase["train"], by_phase["evaluate"], absent


def test_twenty_supernodes_train_while_one_leaves_and_one_joins_between_rounds(
        fl_http, fl_worker, join_clients, tmp_path):
    from flcore.demo.data import write_digits_partitions

    paths, _ = write_digits_partitions(tmp_path, CLIENTS + 1, alpha=100.0)  # about even shares
    # Heartbeats every 30 s: twenty clients on one API key stay far below its hourly limit.
    clients = join_clients(paths[:CLIENTS], timeout=240, heartbeat=30, client_app=HELD_APP)
    leaver, leaver_data, gatekeeper_data = clients[-1], paths[CLIENTS - 1], paths[0]
    # Round 1 cannot end before the first client evaluates, which it does once the new client
    # is assigned; the leaver never answers round 2, and leaves while round 2 waits for it.
    hold_path(gatekeeper_data, "evaluate", 1).touch()
    hold_path(leaver_data, "train", 2).touch()

    execution = start_execution(fl_http, clients, rounds=2, minClients=CLIENTS - 1, localEpochs=1,
                                clientApp=HELD_APP, roundTimeoutSeconds=180, connectTimeoutSeconds=120)
    wait_until(holding_path(gatekeeper_data, "evaluate", 1).exists, timeout=240, interval=0.2,
               message="round 1 evaluating")
    newcomer, = join_clients(paths[CLIENTS:], timeout=120, heartbeat=30, client_app=HELD_APP)
    assigned = fl_http.post(f"/fl/clients/{newcomer.id}/assign", json={"executionId": execution["id"]})
    assert assigned.status_code == 201, assigned.text
    hold_path(gatekeeper_data, "evaluate", 1).unlink()

    wait_until(holding_path(leaver_data, "train", 2).exists, timeout=120, interval=0.2, message="round 2 training")
    leaver_node = fl_http.get(f"/fl/clients/{leaver.id}").json()["data"]["nodeId"]
    leaver.proc.terminate()  # as Ctrl-C would: the client stops its SuperNode, which signs off
    assert leaver.proc.wait(timeout=30) == 0

    final = wait_for_status(fl_http, execution["id"], timeout=300)
    assert final["status"] == "completed" and final["currentRound"] == 2, final
    everyone = sorted(c.id for c in clients)
    stayed_or_came = sorted([c.id for c in clients if c is not leaver] + [newcomer.id])
    assert _round(fl_http, execution["id"], 1) == (everyone, everyone, set())
    assert _round(fl_http, execution["id"], 2) == (stayed_or_came, stayed_or_came, {leaver_node})

    events = events_of(fl_http, execution["id"])
    received = [(e["data"]["round"], e["data"]["clientId"]) for e in events if e["event"] == "client.update_received"]
    assert sorted(received) == sorted([(1, c) for c in everyone] + [(2, c) for c in stayed_or_came])
    # The leaver signed off; round 2 says so too when it saw the node go (not on an error reply).
    left = [e["data"] for e in events if e["event"] == "client.left"]
    assert left and {d["clientId"] for d in left} == {leaver.id}

    model = fl_http.get(f"/fl/aggregation/{execution['id']}/model", params={"format": "safetensors"})
    assert model.status_code == 200, model.text
    arrays = load_exported(model.content, "safetensors")
    assert {k: a.shape for k, a in arrays.items()} == {
        "0.weight": (64, 64), "0.bias": (64,), "2.weight": (10, 64), "2.bias": (10,)}
    assert all(np.isfinite(a).all() for a in arrays.values())
