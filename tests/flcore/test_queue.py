"""Executions beyond the workers' capacity wait in a visible queue and start in order.

The live test runs four executions on one worker with two slots, on the session's
SuperLink, each with its own two SuperNodes. Its server and worker use a queue of
their own, so the session's `fl` worker cannot take these executions.
"""
from __future__ import annotations

import re
from contextlib import ExitStack
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from flcore.models import TrainingExecution, TrainingRound
from flcore.runtime import SuperNodeProcess
from tests.support.fl import own_queue_stack
from tests.support.processes import wait_until

from .conftest import TERMINAL, events_of

QUEUE = "fl-queue-test"
CLIENT_APP = "flcore.runtime.numpy_app:app"  # numpy only: eight SuperNodes without torch


# --- the estimate, from stored rows ---------------------------------------------------------------

def _execution(status: str, rounds: int, *, current: int = 0, minutes_ago: float = 0) -> TrainingExecution:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return TrainingExecution.objects.create(
        status=status, model_type="classification", total_rounds=rounds, current_round=current, created_at=at,
        queued_at=at, started_at=at if status == "running" else None)


def _round(execution: TrainingExecution, number: int, seconds: float, *, ended_ago: float) -> None:
    end = timezone.now() - timedelta(seconds=ended_ago)
    TrainingRound.objects.create(execution=execution, round_number=number, status="completed",
                                 timings={"total": seconds}, started_at=end - timedelta(seconds=seconds),
                                 completed_at=end)


@pytest.mark.django_db
def test_queued_executions_get_positions_and_estimates_from_round_times(api, make_key):
    api.auth(make_key(["fl:metrics:view"])[0])
    fast = _execution("running", 4, current=2, minutes_ago=10)  # 10 s rounds, 2 left
    _round(fast, 1, 10, ended_ago=15)
    _round(fast, 2, 10, ended_ago=4)  # 4 s into its third round
    _execution("running", 3, minutes_ago=9)  # no round of its own yet: the recent mean (10 s)
    first, second, third = (_execution("queued", 2, minutes_ago=m) for m in (3, 2, 1))
    _execution("completed", 1, minutes_ago=30)

    def position(execution):
        return api.get(f"/api/v1/fl/executions/{execution.pk}").json()["data"]["queue"]

    assert position(fast) is None
    # fast frees its slot in 2 x 10 - 4 = 16 s; slow's ran 9 minutes, so it is due (0 s);
    # first takes slow's slot (0 s), second fast's (16 s), third first's (0 + 2 x 10 s).
    expected = [(first, 1, 0.0), (second, 2, 16.0), (third, 3, 20.0)]
    for execution, place, seconds in expected:
        found = position(execution)
        assert (found["position"], found["ahead"]) == (place, place - 1)
        assert found["estimatedStartSeconds"] == pytest.approx(seconds, abs=1.5)
    queue = api.get("/api/v1/fl/executions/queue").json()["data"]
    assert [e["executionId"] for e in queue["executions"]] == [str(e.pk) for e, _, _ in expected]
    assert queue["slots"] == {"running": 2, "total": 2} and queue["roundSeconds"] == pytest.approx(10)
    listed = api.get("/api/v1/fl/executions?status=pending&limit=10").json()["data"]
    assert sorted(e["queue"]["position"] for e in listed) == [1, 2, 3]


@pytest.mark.django_db
def test_listing_computes_the_queue_once_however_long_it_is(api, make_key):
    api.auth(make_key(["fl:metrics:view"])[0])
    _round(_execution("running", 3, current=1, minutes_ago=5), 1, 10, ended_ago=1)

    def queries_to_list() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api.get("/api/v1/fl/executions?limit=100").status_code == 200
        return len(captured)

    _execution("queued", 2)
    queries_to_list()  # the first request also looks up the API key
    one = queries_to_list()
    for _ in range(5):
        _execution("queued", 2)
    assert queries_to_list() == one


@pytest.mark.django_db
def test_the_admin_changelist_shows_queue_positions(client, make_user):
    client.force_login(make_user(superuser=True))
    running = _execution("running", 3, current=1, minutes_ago=5)
    _round(running, 1, 10, ended_ago=1)  # 2 rounds of 10 s left, 1 s into the next
    for minutes_ago in (2, 1):
        _execution("queued", 2, minutes_ago=minutes_ago)
    page = client.get("/admin/flcore/trainingexecution/").content.decode()
    shown = {int(place): int(seconds) for place, seconds in re.findall(r"#(\d+), starts in ~(\d+) s", page)}
    assert shown.keys() == {1, 2} and 15 <= shown[1] <= 19 and shown[2] == shown[1] + 20, shown


@pytest.mark.django_db
def test_without_round_history_there_is_a_position_but_no_estimate(api, make_key):
    api.auth(make_key(["fl:metrics:view"])[0])
    waiting = _execution("queued", 2)
    found = api.get(f"/api/v1/fl/executions/{waiting.pk}").json()["data"]["queue"]
    assert found == {"position": 1, "ahead": 0, "estimatedStartSeconds": None, "estimatedStartAt": None}
    queue = api.get("/api/v1/fl/executions/queue").json()["data"]
    assert queue["slots"] == {"running": 0, "total": 1} and queue["roundSeconds"] is None


# --- four executions on two worker slots ----------------------------------------------------------

@pytest.fixture
def queue_http(fl_env, fl_key, live_logs):
    """A server and a two-slot worker of the queue QUEUE, on the session's SuperLink and database."""
    with own_queue_stack(fl_env, live_logs, fl_key, name="fl-queue", queue=QUEUE, concurrency=2) as http:
        yield http


@pytest.fixture
def supernodes(queue_http, digits, live_logs, tmp_path):
    """`start(count)` registers `count` clients, starts a warm SuperNode for each, returns their ids."""
    paths = digits[0]
    with ExitStack() as stack:
        def start(index: int):
            body = queue_http.post("/fl/clients", json={"name": f"queue-client-{index}"}).json()["data"]
            node = stack.enter_context(SuperNodeProcess(
                body["flower"]["superlinkAddress"],
                {"fedplane-client-id": body["id"], "data-path": str(paths[index % len(paths)])},
                warm=True, preload=CLIENT_APP, env={"FLWR_HOME": str(tmp_path / "flwr-home")},
                log_path=live_logs / f"queue-supernode-{index}-{body['id'][:8]}.log"))
            node.start()
            queue_http.put(f"/fl/clients/{body['id']}/status", json={"status": "active",
                                                                      "metadata": {"nodeId": node.node_id}})
            return body["id"]

        # One after the other, from this thread: a SuperNode gets SIGTERM when the thread that
        # started it ends (die_with_parent), so a thread pool would stop them at once.
        yield lambda count: [start(index) for index in range(count)]


def _max_overlap(spans: list[tuple[datetime, datetime]]) -> int:
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = peak = 0
    for _, step in edges:  # an end sorts before a start at the same instant
        running += step
        peak = max(peak, running)
    return peak


@pytest.mark.live
@pytest.mark.flower
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(900)
def test_four_executions_on_two_slots_queue_in_order_and_all_complete(queue_http, supernodes):
    clients = supernodes(8)
    # The second runs four rounds longer, so the two slots free seconds apart: a round here takes
    # well under a second, less than a fresh worker child's start-up jitter (one round apart, the
    # third and fourth once started 23 ms apart in either order).
    ids = []
    for index, rounds in enumerate((2, 6, 2, 2)):
        own = clients[2 * index:2 * index + 2]
        response = queue_http.post("/fl/executions", json={
            "modelType": "classification", "algorithm": "fedavg", "clients": own,
            "config": {"rounds": rounds, "minClients": 2, "localEpochs": 1, "batchSize": 32, "learningRate": 0.1,
                       "roundTimeoutSeconds": 60, "connectTimeoutSeconds": 90,
                       "clientApp": CLIENT_APP}})
        assert response.status_code == 202, response.text
        ids.append(response.json()["data"]["id"])
    first, second, third, fourth = ids
    seen = {"peak": 0, "positions": {third: [], fourth: []}}

    def poll() -> list[dict]:
        """The four, in creation order; notes how many run at once and the waiting ones' positions."""
        listed = {e["id"]: e for e in queue_http.get("/fl/executions", params={"limit": 10}).json()["data"]}
        seen["peak"] = max(seen["peak"], sum(listed[i]["status"] == "running" for i in ids))
        for execution_id, positions in seen["positions"].items():
            if listed[execution_id]["queue"]:
                positions.append(listed[execution_id]["queue"]["position"])
        return [listed[i] for i in ids]

    # Two run, the other two wait behind them in creation order.
    wait_until(lambda: [e["status"] for e in poll()] == ["running", "running", "queued", "queued"],
               timeout=120, interval=0.3, message="two running, two queued")
    for execution_id, place in ((third, 1), (fourth, 2)):
        detail = queue_http.get(f"/fl/executions/{execution_id}").json()["data"]
        assert detail["queue"]["position"] == place and detail["queue"]["ahead"] == place - 1
    queue = queue_http.get("/fl/executions/queue").json()["data"]
    assert [(e["executionId"], e["position"]) for e in queue["executions"]] == [(third, 1), (fourth, 2)]
    assert queue["slots"] == {"running": 2, "total": 2}

    # Once a round has finished, the waiting ones get an estimated start (or one of them started: fail).
    def estimated_or_started():
        waiting = poll()[2:]
        done = any(e["status"] != "queued" or e["queue"]["estimatedStartSeconds"] is not None for e in waiting)
        return waiting if done else None

    waiting = wait_until(estimated_or_started, timeout=180, interval=0.3, message="an estimated start")
    estimates = [e["queue"] and e["queue"]["estimatedStartSeconds"] for e in waiting]
    assert None not in estimates and 0 <= estimates[0] <= estimates[1], waiting

    def all_finished():
        found = poll()
        return found if all(e["status"] in TERMINAL for e in found) else None

    finished = wait_until(all_finished, timeout=300, interval=0.3, message="all four finished")
    assert [e["status"] for e in finished] == ["completed"] * 4, [e["error"] for e in finished]
    assert seen["peak"] <= 2
    spans = [(datetime.fromisoformat(e["startedAt"]), datetime.fromisoformat(e["completedAt"])) for e in finished]
    assert _max_overlap(spans) == 2
    starts = [start for start, _ in spans]
    assert max(starts[:2]) < starts[2] < starts[3]  # the waiting ones started in the order they were queued
    assert 2 in seen["positions"][fourth] and 1 in seen["positions"][fourth]  # it moved up
    waited = {e["data"]["executionId"]: e["data"]["queuedSeconds"]
              for i in (first, third) for e in events_of(queue_http, i) if e["event"] == "execution.started"}
    assert waited[third] > waited[first]

    # One SuperLink, four runs: every update of an execution came from its own clients.
    for index, execution_id in enumerate(ids):
        own = set(clients[2 * index:2 * index + 2])
        rounds = queue_http.get(f"/fl/executions/{execution_id}/rounds", params={"limit": 10}).json()["data"]
        assert len(rounds) == finished[index]["totalRounds"]
        for round_ in rounds:
            updates = queue_http.get(f"/fl/executions/{execution_id}/rounds/{round_['roundNumber']}").json()
            train = [u["clientId"] for u in updates["data"]["updates"] if u["phase"] == "train"]
            assert sorted(train) == sorted(own), (execution_id, round_["roundNumber"])
            assert {u["clientId"] for u in updates["data"]["updates"]} == own
