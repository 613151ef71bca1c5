"""`manage.py runplatform` with real processes: it restarts a child that dies (with backoff) while
the others keep serving, and its web processes share one port with /metrics summing them."""
from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from fedplane.ops.platform import Backoff, PlatformProcesses
from tests.support.processes import wait_until

pytestmark = [pytest.mark.live, pytest.mark.flower, pytest.mark.timeout(300)]

LIVEZ = 'django_http_requests_total_by_view_transport_method_total{method="GET",transport="http",view="livez"}'


@pytest.fixture
def platform(platform_stack):
    """runplatform with two web processes on a PostgreSQL and a Redis of its own (tests/support/platform.py):
    its workers take none of the suite's tasks, its sweeper none of the suite's executions."""
    return platform_stack.platform


def _counter(url: str, sample: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    return 0.0


def _livez_by_process(metrics_dir: Path) -> dict[int, float]:
    """Requests to /livez each server process counted, read from its own file."""
    counts = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        for metric in MultiProcessCollector.merge([str(path)]):
            for s in metric.samples:
                if s.name.endswith("by_view_transport_method_total") and s.labels.get("view") == "livez":
                    counts[pid] = counts.get(pid, 0) + s.value
    return counts


def test_two_web_processes_share_the_port_and_metrics_count_both(platform):
    web = platform.child("uvicorn")
    processes = {p.pid for p in web.children() if "resource_tracker" not in " ".join(p.cmdline())}
    assert len(processes) == 2, web.children()
    before = _counter(platform.url, LIVEZ)
    sent = 0

    def both_served() -> bool:
        nonlocal sent
        # a new connection per request, several at once: the kernel hands each to either process
        with httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0)) as client:
            threads = [threading.Thread(target=lambda: client.get(f"{platform.url}/livez").raise_for_status())
                       for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        sent += len(threads)
        counts = _livez_by_process(platform.root / "prometheus" / f"platform-{platform.port}")
        return all(counts.get(pid, 0) > 0 for pid in processes)

    wait_until(both_served, timeout=60, interval=0, message="requests served by both web processes")
    assert _counter(platform.url, LIVEZ) - before == sent


def test_killed_children_are_restarted_while_the_api_keeps_answering(platform):
    worker, superlink = platform.child("-n worker@"), platform.descendant("flower-superlink")
    runsuperlink = platform.child("runsuperlink")  # runplatform's child; it exits when its SuperLink dies
    assert worker and superlink and runsuperlink
    failures, answered, done = [], [], threading.Event()

    def keep_asking() -> None:
        with platform.http() as http:
            while not done.is_set():
                try:
                    response = http.get("/fl/clients")
                    (answered if response.status_code == 200 else failures).append(response.status_code)
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                time.sleep(0.05)  # pacing of the probe, not a wait for anything

    asker = threading.Thread(target=keep_asking)
    asker.start()
    try:
        worker.kill()
        superlink.kill()
        restarted = wait_until(lambda: (w := platform.child("-n worker@")) and w.pid != worker.pid and w,
                               timeout=60, interval=0.2, message="worker restarted")
        wait_until(lambda: httpx.get(f"http://{platform.superlink_address}/health", timeout=2).status_code == 200,
                   timeout=120, interval=0.5, message="SuperLink answering again")
    finally:
        done.set()
        asker.join()
    assert not failures and len(answered) > 10, failures
    log = platform.log_tail(200)
    assert f"worker (pid {worker.pid}) exited with -9" in log and "worker restarted" in log, log
    assert f"superlink (pid {runsuperlink.pid}) exited" in log and "superlink restarted" in log, log

    # The restarted worker takes tasks: its ping commits an event the API serves.
    token = uuid.uuid4().hex
    platform.manage("shell", "-c", f"from fedplane.ops.tasks import worker_ping; worker_ping.delay({token!r})")
    with platform.http() as http:
        wait_until(lambda: any(e["data"].get("token") == token for e in http.get(
            "/integration/events", params={"type": "platform.worker_ping"}).json()["data"]),
                   timeout=60, interval=0.3, message="ping run by the restarted worker")
    assert restarted.is_running()


def test_a_child_that_keeps_exiting_waits_longer_each_time_up_to_the_cap(tmp_path, caplog):
    processes = PlatformProcesses(log_dir=tmp_path, backoff=Backoff(initial=0.1, maximum=0.4, stable_after=30))
    processes._add("crasher", [sys.executable, "-c", "raise SystemExit(3)"])
    delays: list[float] = []

    def four_restarts() -> bool:
        with caplog.at_level(logging.WARNING, logger="fedplane.ops.platform"):
            processes.supervise()
        delays[:] = [float(r.getMessage().split("restarting in ")[1].split("s")[0])
                     for r in caplog.records if "restarting in" in r.getMessage()]
        return len(delays) >= 5

    try:
        wait_until(four_restarts, timeout=30, interval=0.02, message="five exits")
    finally:
        processes.stop()
    assert delays[:5] == [0.1, 0.2, 0.4, 0.4, 0.4]
    assert "crasher (pid" in caplog.text and "exited with 3" in caplog.text
    assert Backoff(initial=1, maximum=30, stable_after=60).delay(1) == 1  # after a stable run: from the start
