"""Simulations on a Ray cluster that is not fedplane's: started here on loopback with `ray start
--head`, joined through RAY_ADDRESS; and one whose RAY_ADDRESS answers nobody."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from tests.support.fl import own_queue_stack
from tests.support.processes import ManagedProcess, free_port, wait_until

from .conftest import events_of, wait_for_round, wait_for_status

pytestmark = [pytest.mark.live, pytest.mark.flower, pytest.mark.django_db(transaction=True),
              pytest.mark.timeout(900)]

QUEUE = "fl-ray-cluster"


@pytest.fixture(scope="module")
def ray_cluster(live_logs, tmp_path_factory):
    """A one-node Ray cluster on 127.0.0.1 (2 CPUs); `--block` ties its processes to this one."""
    port = free_port()
    ray = Path(sys.executable).with_name("ray")
    head = ManagedProcess(
        [str(ray), "start", "--head", "--block", f"--port={port}", "--node-ip-address=127.0.0.1",
         "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
         f"--temp-dir={tmp_path_factory.mktemp('ray')}"],
        {**_env_without_ray(), "RAY_USAGE_STATS_ENABLED": "0"}, live_logs / "ray-head.log")

    def up() -> bool:
        if not head.alive():
            raise RuntimeError(f"ray head exited:\n{head.log_tail()}")
        return "Ray runtime started" in head.log_path.read_text(errors="replace")

    wait_until(up, timeout=90, interval=0.3, message="ray head started")
    yield f"127.0.0.1:{port}"
    head.stop(timeout=30)


def _env_without_ray() -> dict[str, str]:
    import os
    return {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}


@pytest.fixture
def cluster_http(fl_env, live_logs, ray_cluster, fl_key):
    """A server and a worker of their own (own queue), whose simulations run on `ray_cluster`."""
    with own_queue_stack({**fl_env, "RAY_ADDRESS": ray_cluster}, live_logs, fl_key, name="ray", queue=QUEUE) as http:
        yield http


def test_a_simulation_joins_the_ray_cluster_and_stops_and_resumes_there(cluster_http, ray_cluster):
    body = {"algorithm": "fedavg", "runtime": "simulation",
            "config": {"rounds": 50, "minClients": 10, "numSupernodes": 10, "dataset": "digits",
                       "partitioning": {"method": "iid", "seed": 5}},
            "backendConfig": {"clientResources": {"numCpus": 1}}}
    created = cluster_http.post("/fl/executions", json=body)
    assert created.status_code == 202, created.text
    execution_id = created.json()["data"]["id"]
    wait_for_round(cluster_http, execution_id, 1, timeout=300)
    assert cluster_http.post(f"/fl/executions/{execution_id}/stop", json={"reason": "test"}).status_code == 202
    stopped = wait_for_status(cluster_http, execution_id, timeout=300)
    last = stopped["currentRound"]
    assert stopped["status"] == "stopped" and 1 <= last < 50, stopped

    resumed = cluster_http.post(f"/fl/executions/{execution_id}/resume", json={"adjustConfig": {"rounds": last + 1}})
    assert resumed.status_code == 202, resumed.text
    final = wait_for_status(cluster_http, execution_id, timeout=300)
    assert final["status"] == "completed" and final["currentRound"] == last + 1, final
    rounds = cluster_http.get(f"/fl/executions/{execution_id}/rounds", params={"limit": 100}).json()["data"]
    assert [r["roundNumber"] for r in rounds] == list(range(1, last + 2))
    assert all(len(r["participatingClients"]) == 10 for r in rounds)

    events = events_of(cluster_http, execution_id)
    # Each run's claim held it to its end: no sweep found it silent (e.g. while its process started).
    assert not [e for e in events if e["event"] == "execution.recovering"]
    clusters = [e["data"]["cluster"] for e in events if e["event"] == "execution.simulation_started"]
    assert len(clusters) == 2  # the first run and the resumed one, both on the test's cluster
    port = ray_cluster.rsplit(":", 1)[1]
    assert all(c["rayAddress"] == ray_cluster and c["gcsAddress"].endswith(f":{port}") and c["local"] is False
               and c["cpus"] == 2.0 for c in clusters), clusters


def test_an_unreachable_ray_address_fails_the_execution_in_seconds_with_the_cause(settings, live_env, monkeypatch):
    """The task's own code, in this process, with RAY_ADDRESS pointing where nothing listens; the
    simulation's child process it starts sees the same environment and test database."""
    from flcore.services import runner
    from flcore.services.executions import execution_create
    from flcore.services.runner import execution_run

    address = f"127.0.0.1:{free_port()}"
    for name, value in {"DATABASE_URL": live_env["DATABASE_URL"], "RAY_ADDRESS": address,
                        "FLCORE_RAY_CONNECT_TIMEOUT": "2", "FLCORE_STALE_SECONDS": "6"}.items():
        monkeypatch.setenv(name, value)
    settings.RAY_ADDRESS = address
    # The session's fl worker, if earlier tests started it, would race this process for the queued
    # task, and its sweep requeues an execution silent for 6 s (fl_env) on its own queue: queue no
    # task, and beat as often as its settings want (this process's beat every 11 s, for 45 s).
    monkeypatch.setattr("flcore.services.executions.dispatch_run", lambda execution: None)
    monkeypatch.setattr(runner, "HEARTBEAT_SECONDS", 1.5)
    execution = execution_create(user=None, model_type="classification", algorithm="fedavg", runtime="simulation",
                                 config={"rounds": 1, "minClients": 2, "numSupernodes": 2, "dataset": "digits"})
    started = time.monotonic()
    assert execution_run(execution_id=str(execution.pk), task_id="in-test", worker="pytest") == "failed"
    assert time.monotonic() - started < 20  # a Python and Django start, then 2 s of trying
    execution.refresh_from_db()
    assert execution.error_code == "FL003"
    assert address in execution.error_message and "unreachable" in execution.error_message
