"""The live federated-learning stack, shared by every test folder through tests/conftest.py: a
real SuperLink, the ASGI server, a Celery worker on the `fl` queue, and `fedplane-client join`
processes (real SuperNodes) with digits data."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import pytest

from fedplane.api.scopes import ALL_SCOPES
from tests.support.processes import ManagedProcess, start_server, start_worker, wait_until

TERMINAL = {"completed", "failed", "stopped"}


@pytest.fixture(scope="session")
def fl_superlink(live_logs):
    from flcore.runtime import SuperLinkProcess

    link = SuperLinkProcess(log_path=live_logs / "superlink.log").start()
    yield link
    link.stop()


@pytest.fixture(scope="session")
def fl_env(live_env, fl_superlink, tmp_path_factory) -> dict[str, str]:
    # A dead worker is noticed after 6 s of silence (45 s in production). The servers and workers
    # count in one Prometheus multi-process directory, as runplatform's do: a server's /metrics
    # shows the rounds a worker recorded.
    return {**live_env, "FLOWER_SUPERLINK_ADDRESS": fl_superlink.address, "FLOWER_MANAGE_SUPERLINK": "0",
            "FLCORE_STALE_SECONDS": "6", "FLCORE_SWEEP_SECONDS": "1",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path_factory.mktemp("fl-prometheus"))}


@pytest.fixture(scope="session")
def fl_server_url(fl_env, live_logs):
    proc, base = start_server(fl_env, live_logs, "fl-web")
    yield base
    proc.stop()


class FlWorker:
    """The `fl` queue's worker, which a test may kill and start again."""

    def __init__(self, env, log_dir: Path) -> None:
        self.env, self.log_dir, self.count = env, log_dir, 0
        self.proc: ManagedProcess | None = None

    def start(self) -> None:
        self.count += 1
        self.proc = start_worker(self.env, self.log_dir, f"fl-worker-{self.count}", concurrency=1, queues="fl",
                                 extra=["--max-tasks-per-child", "1"])

    def log_tail(self, lines: int = 40) -> str:
        return self.proc.log_tail(lines) if self.proc else ""

    def kill(self) -> None:
        """SIGKILL the worker and its pool: what a crashed machine looks like."""
        self.proc.stop(sig=signal.SIGKILL)


@pytest.fixture(scope="session")
def fl_worker(fl_env, live_logs):
    worker = FlWorker(fl_env, live_logs)
    worker.start()
    yield worker
    worker.proc.stop()


@pytest.fixture(scope="session")
def digits(tmp_path_factory):
    from flcore.demo.data import write_digits_partitions

    paths, test = write_digits_partitions(tmp_path_factory.mktemp("digits"), 3)
    return paths, test


@pytest.fixture
def fl_key(make_key):
    key, _ = make_key(sorted(ALL_SCOPES))
    return key


@pytest.fixture
def fl_http(fl_server_url, fl_key):
    with httpx.Client(base_url=f"{fl_server_url}/api/v1", headers={"X-API-Key": fl_key}, timeout=30) as client:
        yield client


class JoinedClient:
    def __init__(self, proc: subprocess.Popen, name: str) -> None:
        self.proc, self.name, self.id = proc, name, None

    def log_tail(self, lines: int = 40) -> str:
        return self.proc.log_tail(lines) if self.proc else ""

    def kill(self) -> None:
        """SIGKILL the client program, its SuperNode and its ClientApp executor."""
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            child.kill()
        self.proc.kill()


@pytest.fixture
def join_clients(fl_server_url, fl_key, fl_http, live_logs, fl_superlink):
    started: list[JoinedClient] = []

    def join(paths: list[Path], *, timeout: float = 120, heartbeat: float = 1,
             client_app: str | None = None) -> list[JoinedClient]:
        """`client_app`: the ClientApp the clients' executors import at start (default: fedplane's)."""
        batch = []
        for index, path in enumerate(paths):
            name = f"client-{len(started) + 1}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
            proc = subprocess.Popen(
                [sys.executable, "-m", "flcore.client.cli", "join", "--api", fl_server_url, "--api-key", fl_key,
                 "--data", str(path), "--name", name, "--heartbeat", str(heartbeat), "--log-dir", str(live_logs),
                 *(["--client-app", client_app] if client_app else [])],
                stdout=open(live_logs / f"{name}.log", "wb"), stderr=subprocess.STDOUT)
            joined = JoinedClient(proc, name)
            started.append(joined)
            batch.append(joined)

        def connected():
            for joined in batch:
                if joined.proc.poll() is not None:
                    raise RuntimeError((live_logs / f"{joined.name}.log").read_text()[-2000:])
            found = {c["name"]: c for c in fl_http.get("/fl/clients", params={"limit": 100}).json()["data"]}
            if all(j.name in found and found[j.name]["nodeId"] for j in batch):
                for joined in batch:
                    joined.id = found[joined.name]["id"]
                return True
            return False

        wait_until(connected, timeout=timeout, interval=0.5, message="clients connected")
        return batch

    yield join
    for joined in started:
        if joined.proc.poll() is None:
            joined.proc.terminate()
    for joined in started:
        try:
            joined.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            joined.kill()


@contextmanager
def own_queue_stack(env: dict[str, str], log_dir: Path, api_key: str, *, name: str, queue: str,
                    concurrency: int = 1) -> Iterator[httpx.Client]:
    """An API client of a server and an fl worker of their own queue (`env` may add settings, such
    as RAY_ADDRESS): the session's `fl_worker` takes none of their executions, and theirs none else,
    unless one falls silent: every worker's sweep requeues a silent execution on its own queue."""
    env = {**env, "FLCORE_QUEUE": queue}
    server, base = start_server(env, log_dir, f"{name}-web")
    worker = start_worker(env, log_dir, f"{name}-worker", concurrency=concurrency, queues=queue,
                          extra=["--max-tasks-per-child", "1"])
    try:
        with httpx.Client(base_url=f"{base}/api/v1", headers={"X-API-Key": api_key}, timeout=30) as http:
            yield http
    finally:
        worker.stop()
        server.stop()


def start_execution(http: httpx.Client, clients, **config) -> dict:
    body = {"modelType": "classification", "algorithm": config.pop("algorithm", "fedavg"),
            "clients": [c.id for c in clients],
            "config": {"rounds": 3, "minClients": len(clients), "localEpochs": 5, "batchSize": 32,
                       "learningRate": 0.1, "inputDim": 64, "numClasses": 10, "roundTimeoutSeconds": 60,
                       "connectTimeoutSeconds": 60, **config}}
    privacy = body["config"].pop("privacyConfig", None)
    if privacy:
        body["privacyConfig"] = privacy
    response = http.post("/fl/executions", json=body)
    assert response.status_code == 202, response.text
    return response.json()["data"]


def execution_of(http: httpx.Client, execution_id: str) -> dict:
    return http.get(f"/fl/executions/{execution_id}").json()["data"]


def wait_for_status(http: httpx.Client, execution_id: str, statuses=TERMINAL, timeout: float = 400) -> dict:
    return wait_until(lambda: (e := execution_of(http, execution_id))["status"] in statuses and e,
                      timeout=timeout, interval=0.5, message=f"execution {execution_id} in {statuses}")


def wait_for_round(http: httpx.Client, execution_id: str, round_number: int, status: str = "completed",
                   timeout: float = 300) -> dict:
    def reached():
        rounds = http.get(f"/fl/executions/{execution_id}/rounds", params={"limit": 100}).json()["data"]
        return next((r for r in rounds if r["roundNumber"] == round_number and r["status"] == status), None)
    return wait_until(reached, timeout=timeout, interval=0.3, message=f"round {round_number} {status}")


def events_of(http: httpx.Client, execution_id: str) -> list[dict]:
    events, page = [], 1
    while True:
        body = http.get("/integration/events", params={"system": "fl", "limit": 100, "page": page}).json()
        events += [e for e in body["data"] if e["data"].get("executionId") == execution_id]
        if not body["pagination"]["hasNext"]:
            return events
        page += 1
