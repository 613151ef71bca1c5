"""Federated trainings through the whole platform: REST API, Celery worker, Flower SuperLink,
and `fedplane-client` processes whose SuperNodes train on non-IID digits."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from flcore.export import AVAILABLE_FORMATS, load_exported
from flcore.runtime.model import build_model

from .conftest import events_of, execution_of, start_execution, wait_for_round, wait_for_status

pytestmark = [pytest.mark.live, pytest.mark.flower, pytest.mark.django_db(transaction=True),
              pytest.mark.timeout(900)]


def _arrays(http, execution_id: str, round_number: int, fmt: str) -> dict[str, np.ndarray]:
    response = http.get(f"/fl/aggregation/{execution_id}/model", params={"round": round_number, "format": fmt})
    assert response.status_code == 200, response.text
    return load_exported(response.content, fmt)


def test_fedavg_on_digits_records_everything_and_reaches_90_percent(
        fl_http, fl_worker, join_clients, digits):
    paths, test_path = digits
    clients = join_clients(paths)
    rounds = 10
    execution = start_execution(fl_http, clients, rounds=rounds)
    final = wait_for_status(fl_http, execution["id"], timeout=800)
    assert final["status"] == "completed", final
    assert final["currentRound"] == rounds and final["participatingClients"] == 3

    stored = fl_http.get(f"/fl/executions/{execution['id']}/rounds", params={"limit": 100}).json()["data"]
    assert [r["roundNumber"] for r in stored] == list(range(1, rounds + 1))
    for round_ in stored:
        assert sorted(round_["participatingClients"]) == sorted(c.id for c in clients)
        detail = fl_http.get(f"/fl/executions/{execution['id']}/rounds/{round_['roundNumber']}").json()["data"]
        train = [u for u in detail["updates"] if u["phase"] == "train"]
        assert sorted(u["clientId"] for u in train) == sorted(c.id for c in clients)
        assert all(u["numExamples"] > 0 and u["durationSeconds"] > 0 and "train-loss" in u["metrics"]
                   for u in train)
        checkpoint = fl_http.get(f"/fl/executions/{execution['id']}/rounds/{round_['roundNumber']}/checkpoint")
        reference = load_exported(checkpoint.content, "safetensors")
        assert checkpoint.headers["X-Checksum-SHA256"] == round_["aggregatedModel"]["sha256"]
        for fmt in AVAILABLE_FORMATS:  # every round's model, every format, identical tensors
            exported = _arrays(fl_http, execution["id"], round_["roundNumber"], fmt)
            assert list(exported) == list(reference)
            assert all(np.array_equal(exported[k], reference[k]) for k in reference), fmt

    kinds = [e["event"] for e in events_of(fl_http, execution["id"])]
    assert kinds.count("client.assigned") == 3
    kinds = [k for k in kinds if k != "client.assigned"]
    assert kinds[:2] == ["execution.created", "execution.started"] and kinds[-1] == "execution.completed"
    per_round = ["round.started", *["client.update_received"] * 3, "model.aggregated", "round.completed",
                 "metrics.updated"]
    assert kinds[2:-1] == per_round * rounds

    model = build_model({"input-dim": 64, "num-classes": 10, "hidden-dim": 64, "seed": 0})
    response = fl_http.get(f"/fl/aggregation/{execution['id']}/model", params={"format": "pytorch"})
    model.load_state_dict(torch.load(io.BytesIO(response.content), weights_only=True))
    with np.load(test_path) as test:
        predicted = model(torch.as_tensor(test["x"])).argmax(1).numpy()
        accuracy = float(np.mean(predicted == test["y"]))
    assert accuracy >= 0.90, f"held-out accuracy {accuracy:.3f}"

    tf = fl_http.get(f"/fl/aggregation/{execution['id']}/model", params={"format": "tensorflow"})
    assert tf.status_code == 422 and all(f in tf.json()["error"]["message"] for f in AVAILABLE_FORMATS)


def test_stop_then_resume_continues_from_the_checkpoint(fl_http, fl_worker, join_clients, digits):
    clients = join_clients(digits[0])
    execution = start_execution(fl_http, clients, rounds=5, localEpochs=1)
    wait_for_round(fl_http, execution["id"], 2)
    stop = fl_http.post(f"/fl/executions/{execution['id']}/stop", json={"reason": "maintenance"})
    assert stop.status_code == 202 and stop.json()["data"]["status"] in ("stopping", "stopped")
    stopped = wait_for_status(fl_http, execution["id"])
    assert stopped["status"] == "stopped" and stopped["stopReason"] == "maintenance"
    assert 2 <= stopped["currentRound"] < 5
    sha2 = fl_http.get(f"/fl/executions/{execution['id']}/rounds/2").json()["data"]["aggregatedModel"]["sha256"]

    resumed = fl_http.post(f"/fl/executions/{execution['id']}/resume", json={"fromRound": 2})
    assert resumed.status_code == 202 and resumed.json()["data"]["status"] == "queued"
    final = wait_for_status(fl_http, execution["id"])
    assert final["status"] == "completed" and final["currentRound"] == 5, (final, fl_worker.log_tail(80))
    starts = [e for e in events_of(fl_http, execution["id"]) if e["event"] == "execution.started"]
    assert starts[-1]["data"]["fromRound"] == 2 and starts[-1]["data"]["initialModelSha256"] == sha2
    rounds = fl_http.get(f"/fl/executions/{execution['id']}/rounds").json()["data"]
    assert [r["roundNumber"] for r in rounds] == [1, 2, 3, 4, 5]


def test_a_manual_trigger_aggregates_the_next_round_from_the_named_client(fl_http, fl_worker, join_clients,
                                                                         digits):
    clients = join_clients(digits[0])
    execution = start_execution(fl_http, clients, rounds=3, localEpochs=1)
    wait_for_status(fl_http, execution["id"], statuses=("running",))
    trigger = fl_http.post(f"/fl/aggregation/{execution['id']}/trigger",
                           json={"clients": [clients[1].id], "waitForAll": True})
    assert trigger.status_code == 202, trigger.text
    final = wait_for_status(fl_http, execution["id"])
    assert final["status"] == "completed", (final, fl_worker.log_tail(60))
    applied = [e for e in events_of(fl_http, execution["id"]) if e["event"] == "aggregation.trigger_applied"]
    assert len(applied) == 1 and applied[0]["data"]["clients"] == [clients[1].id]
    rounds = fl_http.get(f"/fl/executions/{execution['id']}/rounds").json()["data"]
    everyone = sorted(c.id for c in clients)
    expected = [[clients[1].id] if r["roundNumber"] == applied[0]["data"]["round"] else everyone for r in rounds]
    assert [r["participatingClients"] for r in rounds] == expected
    status = fl_http.get(f"/fl/aggregation/{execution['id']}/status").json()["data"]
    assert status["pendingTrigger"] is None


def test_clients_assigned_or_taken_off_while_it_runs_count_from_the_next_round(fl_http, fl_worker, join_clients,
                                                                               digits):
    from tests.support.processes import wait_until

    first, second, third = join_clients(digits[0])
    execution = start_execution(fl_http, [first, second], rounds=7, minClients=2, localEpochs=1)

    def rounds() -> list[dict]:
        return fl_http.get(f"/fl/executions/{execution['id']}/rounds", params={"limit": 100}).json()["data"]

    wait_until(lambda: any(r["roundNumber"] == 1 for r in rounds()), timeout=120, interval=0.2,
               message="round 1 sampled")
    assert fl_http.post(f"/fl/clients/{third.id}/assign", json={"executionId": execution["id"]}).status_code == 201
    # participatingClients is known once a round completes: who sent updates
    joined = wait_until(lambda: next((r for r in rounds() if third.id in r["participatingClients"]), None),
                        timeout=120, interval=0.2, message="the assigned client sampled")
    taken = fl_http.post(f"/fl/clients/{first.id}/unassign", json={"executionId": execution["id"]})
    assert taken.status_code == 200 and taken.json()["data"]["unassigned"] is True
    left = wait_until(lambda: next((r for r in rounds() if r["roundNumber"] > joined["roundNumber"]
                                    and r["participatingClients"] and first.id not in r["participatingClients"]),
                                   None),
                      timeout=120, interval=0.2, message="a round without the unassigned client")
    final = wait_for_status(fl_http, execution["id"])
    assert final["status"] == "completed", (final, fl_worker.log_tail(60))
    by_number = {r["roundNumber"]: sorted(r["participatingClients"]) for r in rounds()}
    assert by_number[1] == sorted([first.id, second.id])
    assert by_number[joined["roundNumber"]] == sorted([first.id, second.id, third.id])
    assert all(first.id not in by_number[n] for n in by_number if n >= left["roundNumber"]), by_number


def test_a_client_killed_mid_round_leaves_the_round_to_the_others(fl_http, fl_worker, join_clients, digits):
    clients = join_clients(digits[0])
    # Killed as round 1 ends: round 2 samples it (a killed SuperNode stays "online" until its
    # heartbeat lapses) and never hears back.
    execution = start_execution(fl_http, clients, rounds=2, minClients=2, localEpochs=10, roundTimeoutSeconds=20)
    wait_for_round(fl_http, execution["id"], 1)
    killed_node = fl_http.get(f"/fl/clients/{clients[2].id}").json()["data"]["nodeId"]
    clients[2].kill()
    final = wait_for_status(fl_http, execution["id"])
    assert final["status"] == "completed", final
    round2 = fl_http.get(f"/fl/executions/{execution['id']}/rounds/2").json()["data"]
    assert clients[2].id not in round2["participatingClients"] and len(round2["participatingClients"]) == 2
    # Its message expired unanswered (the SuperLink's own error reply): it is named as lost.
    assert round2["lost_node_ids"] == [killed_node], round2
    left = [e for e in events_of(fl_http, execution["id"]) if e["event"] == "client.left"]
    assert left and left[0]["data"]["clientId"] == clients[2].id


def test_too_few_clients_left_fails_with_fl005(fl_http, fl_worker, join_clients, digits):
    clients = join_clients(digits[0])
    execution = start_execution(fl_http, clients, rounds=2, minClients=3, localEpochs=10, roundTimeoutSeconds=15)
    wait_for_round(fl_http, execution["id"], 1)
    clients[0].kill()
    final = wait_for_status(fl_http, execution["id"])
    assert final["status"] == "failed" and final["error"]["code"] == "FL005", final


def test_a_killed_worker_is_replaced_and_the_execution_resumes(fl_http, fl_worker, join_clients, digits):
    clients = join_clients(digits[0])
    execution = start_execution(fl_http, clients, rounds=4, localEpochs=1)
    wait_for_round(fl_http, execution["id"], 2)
    fl_worker.kill()
    assert execution_of(fl_http, execution["id"])["status"] == "running"
    fl_worker.start()
    final = wait_for_status(fl_http, execution["id"])
    assert final["status"] == "completed" and final["currentRound"] == 4, final
    events = events_of(fl_http, execution["id"])
    recovering = [e for e in events if e["event"] == "execution.recovering"]
    assert recovering and recovering[0]["data"]["fromRound"] >= 2
    rounds = fl_http.get(f"/fl/executions/{execution['id']}/rounds").json()["data"]
    assert [r["roundNumber"] for r in rounds] == [1, 2, 3, 4] and all(r["status"] == "completed" for r in rounds)


def test_differential_privacy_spends_within_budget_and_stops_with_fl007(fl_http, fl_worker, join_clients, digits):
    clients = join_clients(digits[0])
    budget = 4.0
    execution = start_execution(fl_http, clients, rounds=2, localEpochs=1, privacyConfig={
        "differential_privacy": True, "epsilon": budget, "delta": 1e-5, "clippingNorm": 5.0})
    done = wait_for_status(fl_http, execution["id"])
    assert done["status"] == "completed", done
    spent = [r["metrics"]["privacy"]["epsilon_spent"]
             for r in fl_http.get(f"/fl/executions/{execution['id']}/rounds").json()["data"]]
    assert len(spent) == 2 and 0 < spent[0] < spent[1] <= budget
    assert done["privacyBudget"]["epsilon_spent"] <= budget

    # More rounds than the budget was calibrated for: it must stop before overspending.
    fl_http.post(f"/fl/executions/{execution['id']}/resume", json={"adjustConfig": {"rounds": 6}})
    final = wait_for_status(fl_http, execution["id"])
    assert final["status"] == "stopped" and final["error"]["code"] == "FL007", final
    assert final["privacyBudget"]["epsilon_spent"] <= budget and final["currentRound"] == 2


def test_secure_aggregation_trains_without_the_server_seeing_an_update(fl_http, fl_worker, join_clients, digits):
    clients = join_clients(digits[0])
    execution = start_execution(fl_http, clients, rounds=2, localEpochs=2, privacyConfig={"secure_aggregation": True})
    final = wait_for_status(fl_http, execution["id"])
    assert final["status"] == "completed", (final, fl_worker.log_tail(60))
    rounds = fl_http.get(f"/fl/executions/{execution['id']}/rounds").json()["data"]
    assert [r["participatingClients"] for r in rounds] == [sorted(c.id for c in clients)] * 2
    assert all(r["metrics"]["train"]["secure-aggregation"] == 1 for r in rounds)
    detail = fl_http.get(f"/fl/executions/{execution['id']}/rounds/2").json()["data"]
    assert sorted(u["numExamples"] > 0 for u in detail["updates"] if u["phase"] == "train") == [True] * 3
    accuracy = [r["metrics"]["evaluate"]["eval-accuracy"] for r in rounds]
    assert 0.2 < accuracy[0] < accuracy[1], accuracy  # the unmasked mean is a model that learns (chance: 0.1)
