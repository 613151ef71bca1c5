"""Faults during a training, with real processes: `runplatform` on a PostgreSQL and a Redis of
its own (killed and restarted here; the suite's are never touched: tests/support/platform.py),
three `fedplane-client` processes, and the SuperLink that runplatform supervises."""
from __future__ import annotations

import json
import signal

import httpx
import pytest

from tests.support.fl import events_of, start_execution, wait_for_round, wait_for_status
from tests.support.platform import Platform
from tests.support.processes import wait_until

pytestmark = [pytest.mark.live, pytest.mark.flower, pytest.mark.timeout(600)]


def _sse_ids(platform: Platform, execution_id: str, after: int) -> list[int]:
    """Ids the event stream sends when resumed after `after`, up to the execution's end."""
    ids = []
    with httpx.Client(timeout=60) as client, client.stream(
            "GET", f"{platform.url}/api/v1/integration/events/stream", params={"systems": "fl"},
            headers={"X-API-Key": platform.key, "Last-Event-ID": str(after)}) as response:
        assert response.status_code == 200, response.read()
        event_id = None
        for line in response.iter_lines():
            if line.startswith("id: "):
                event_id = int(line[4:])
            elif line.startswith("data: "):
                message = json.loads(line[6:])
                if message["data"].get("executionId") == execution_id:
                    ids.append(event_id)
                    if message["event"] in ("execution.completed", "execution.failed"):
                        return ids
    raise AssertionError("stream ended")


def test_redis_killed_mid_training_loses_no_event_and_the_worker_survives(platform_stack, platform_clients):
    stack, clients = platform_stack, platform_clients
    platform, http = stack.platform, stack.platform.http()
    fl_worker = platform.child("-n fl-worker@")
    execution = start_execution(http, clients, rounds=4, localEpochs=1)
    wait_for_round(http, execution["id"], 1)
    before = max(e["id"] for e in events_of(http, execution["id"]))

    stack.redis.stop(signal.SIGKILL)
    # Down until the training has written events no subscriber could be sent (channel layer gone).
    wait_until(lambda: stack.sql("SELECT count(*) FROM events_event WHERE id > %s AND data->>'executionId' = %s",
                                 before, execution["id"])[0][0] >= 2,
               timeout=120, interval=0.3, message="events written while Redis is down")
    stack.redis.start()

    final = wait_for_status(http, execution["id"], timeout=300)
    assert final["status"] == "completed" and final["currentRound"] == 4, (final, platform.child_log("fl-worker")[-3000:])
    # The broker outage did not take the worker down (kombu's redis transport used to crash it).
    assert platform.child("-n fl-worker@").pid == fl_worker.pid, platform.log_tail()
    recorded = sorted(e["id"] for e in events_of(http, execution["id"]) if e["id"] > before)
    assert _sse_ids(platform, execution["id"], before) == recorded


def test_postgresql_restarted_mid_training_resumes_without_a_manual_step(platform_stack, platform_clients):
    stack, clients = platform_stack, platform_clients
    platform, http = stack.platform, stack.platform.http()
    execution = start_execution(http, clients, rounds=4, localEpochs=1)
    wait_for_round(http, execution["id"], 1)

    stack.pg.stop()  # fast shutdown: every session cut, new connections refused
    wait_until(lambda: httpx.get(f"{platform.url}/readyz", timeout=5).status_code == 503,
               timeout=60, interval=0.3, message="readiness reports the database down")
    stack.pg.start()

    final = wait_for_status(http, execution["id"], timeout=300)
    assert final["status"] == "completed" and final["currentRound"] == 4, (final, platform.child_log("fl-worker")[-3000:])
    rounds = http.get(f"/fl/executions/{execution['id']}/rounds").json()["data"]
    assert [r["roundNumber"] for r in rounds] == [1, 2, 3, 4] and all(r["status"] == "completed" for r in rounds)
    # A driver that met the outage gave its claim up, and a worker took the execution over from its last
    # checkpoint; one that touched the database only after it was back went on (connections are checked).
    recovering = [e["data"] for e in events_of(http, execution["id"]) if e["event"] == "execution.recovering"]
    assert all(r["fromRound"] >= 1 for r in recovering), recovering  # resumed from a checkpoint, if at all


def test_superlink_killed_mid_training_is_restarted_and_the_execution_resumes(platform_stack, platform_clients):
    stack, clients = platform_stack, platform_clients
    platform, http = stack.platform, stack.platform.http()
    execution = start_execution(http, clients, rounds=4, localEpochs=1)
    wait_for_round(http, execution["id"], 2, status="collecting")  # its messages are out to the nodes
    superlink = platform.descendant("flower-superlink")
    superlink.kill()
    wait_until(lambda: (s := platform.descendant("flower-superlink")) and s.pid != superlink.pid,
               timeout=120, interval=0.3, message="SuperLink restarted by runplatform")

    final = wait_for_status(http, execution["id"], timeout=400)
    if final["status"] == "failed":  # the other allowed outcome: FL003 with its cause, after a bounded wait
        assert final["error"]["code"] == "FL003" and final["error"]["message"], final
        return
    assert final["status"] == "completed" and final["currentRound"] == 4, (final, platform.child_log("fl-worker")[-3000:])
    # The SuperLink keeps its runs in its database, not the messages' arrays: a round whose messages were
    # out is interrupted, and a takeover resumes the execution from its last checkpoint in a new Flower
    # run once the nodes reconnect (a round not yet sent goes on in the same run). Every round ends
    # with every client.
    rounds = http.get(f"/fl/executions/{execution['id']}/rounds").json()["data"]
    assert [r["roundNumber"] for r in rounds] == [1, 2, 3, 4], rounds
    assert all(r["status"] == "completed" and len(r["participatingClients"]) == 3 for r in rounds), rounds
    recovering = [e["data"] for e in events_of(http, execution["id"]) if e["event"] == "execution.recovering"]
    assert all(r["fromRound"] >= 1 for r in recovering), recovering  # resumed from a checkpoint, if at all
