"""Round settings an operator changes while a training runs (timeout, minimum responders, accepted
failure fraction), and the stragglers each round records: a simulation whose virtual client 0 is
always a few seconds late to train."""
from __future__ import annotations

import pytest

from tests.support.straggler_app import STRAGGLER_SECONDS

from .conftest import events_of, wait_for_round, wait_for_status

pytestmark = [pytest.mark.live, pytest.mark.flower, pytest.mark.django_db(transaction=True),
              pytest.mark.timeout(900)]


def _configure(http, execution_id: str, **settings) -> dict:
    response = http.post(f"/fl/aggregation/{execution_id}/configure", json=settings)
    assert response.status_code == 200, response.text
    return response.json()["data"]["roundSettings"]


def test_settings_changed_while_it_runs_apply_from_the_next_round_and_stragglers_are_named(fl_http, fl_worker):
    created = fl_http.post("/fl/executions", json={
        "algorithm": "fedavg", "runtime": "simulation",
        "config": {"rounds": 3, "minClients": 10, "numSupernodes": 10, "dataset": "digits",
                   "clientApp": "tests.support.straggler_app:app", "roundTimeoutSeconds": 60}})
    assert created.status_code == 202, created.text
    execution_id = created.json()["data"]["id"]

    # Changed while round 1 runs (its settings are taken): from round 2 on, 6 s per phase (the
    # straggler needs 10), and a round may lose a fifth of its clients (8 good replies do).
    wait_for_round(fl_http, execution_id, 1, status="collecting", timeout=300)
    changed = {"roundTimeoutSeconds": 6.0, "minResponders": 8, "acceptedFailureFraction": 0.2}
    assert _configure(fl_http, execution_id, roundTimeoutSeconds=6, minResponders=8,
                      acceptedFailureFraction=0.2) == changed
    first = wait_for_round(fl_http, execution_id, 1, timeout=300)
    detail = fl_http.get(f"/fl/executions/{execution_id}/rounds/1").json()["data"]
    assert detail["settings"]["roundTimeoutSeconds"] == 60.0
    late = {s["partitionId"]: s for s in detail["stragglers"] if s["phase"] == "train"}
    assert 0 in late and not late[0]["timedOut"], detail["stragglers"]
    assert late[0]["seconds"] >= STRAGGLER_SECONDS and late[0]["lateBySeconds"] >= STRAGGLER_SECONDS - 1.5
    assert late[0]["seconds"] == max(s["seconds"] for s in late.values())
    assert len(first["participatingClients"]) == 10

    # Round 2: client 0 misses the 6 s timeout; 9 of 10 replied, within the 20% accepted.
    wait_for_round(fl_http, execution_id, 2, status="collecting", timeout=300)
    _configure(fl_http, execution_id, acceptedFailureFraction=0.0)  # from round 3: no failure accepted
    second = wait_for_round(fl_http, execution_id, 2, timeout=300)
    detail = fl_http.get(f"/fl/executions/{execution_id}/rounds/2").json()["data"]
    assert detail["settings"] == changed
    assert len(second["participatingClients"]) == 9 and "partition:0" not in second["participatingClients"]
    missed = [s for s in detail["stragglers"] if s["phase"] == "train"]
    assert [(s["partitionId"], s["timedOut"], s["seconds"]) for s in missed] == [(0, True, None)]

    final = wait_for_status(fl_http, execution_id, timeout=300)
    assert final["status"] == "failed" and final["error"]["code"] == "FL005", final
    assert "more than the accepted 0%" in final["error"]["message"]
    settings_events = [e["data"] for e in events_of(fl_http, execution_id) if e["event"] == "aggregation.configured"]
    assert [e["roundSettings"]["acceptedFailureFraction"] for e in settings_events] == [0.2, 0.0]
