"""`manage.py runplatform` as a test starts it: in a directory of its own, with its own database,
broker, SuperLink and logs, so that killing its children disturbs no other test.

`platform_stack` (a session fixture, registered in tests/conftest.py) runs one on a PostgreSQL and
a Redis of its own, which fault tests kill and restart; `platform_clients` joins three
`fedplane-client` processes to it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest

from flcore.runtime._process import die_with_parent
from tests.support.fl import JoinedClient
from tests.support.processes import ROOT, free_port, wait_until
from tests.support.throwaway import Postgres, Redis, missing_binaries

__all__ = ["Platform", "PlatformStack", "platform_clients", "platform_stack"]


class Platform:
    def __init__(self, env: dict[str, str], root: Path, *, web_workers: int = 1, concurrency: int = 1) -> None:
        self.root, self.port = root, free_port()
        self.superlink_address = f"127.0.0.1:{free_port()}"
        self.env = {**env, "FEDPLANE_VAR_DIR": str(root), "FLOWER_SUPERLINK_ADDRESS": self.superlink_address,
                    "FLOWER_MANAGE_SUPERLINK": "1", "PYTHONUNBUFFERED": "1"}
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.args = [sys.executable, "manage.py", "runplatform", "--port", str(self.port),
                     "--web-workers", str(web_workers), "--concurrency", str(concurrency)]
        self.log_path = root / "runplatform.log"
        self.proc: subprocess.Popen | None = None
        self.key = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def manage(self, *args: str) -> str:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True,
                              capture_output=True, text=True, timeout=120).stdout

    def start(self, timeout: float = 180) -> Platform:
        self.root.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=open(self.log_path, "ab"),
                                     stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent)

        def up() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"runplatform exited:\n{self.log_tail()}")
            return "fedplane is up" in self.log_path.read_text(errors="replace")

        wait_until(up, timeout=timeout, interval=0.3, message="runplatform up")
        self.key = self.manage("createadmin", "--quiet-key").strip()
        return self

    def http(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=f"{self.url}/api/v1", headers={"X-API-Key": self.key}, timeout=30, **kwargs)

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def child_log(self, name: str) -> str:
        return (self.root / "logs" / f"{name}.log").read_text(errors="replace")

    def children(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children()

    def child(self, marker: str) -> psutil.Process | None:
        """The direct child whose command line holds `marker` (`-n fl-worker@`, `uvicorn`, `runsuperlink`)."""
        for proc in self.children():
            try:
                if marker in " ".join(proc.cmdline()):
                    return proc
            except psutil.NoSuchProcess:
                continue
        return None

    def descendant(self, marker: str) -> psutil.Process | None:
        for proc in psutil.Process(self.proc.pid).children(recursive=True):
            try:
                if marker in " ".join(proc.cmdline()):
                    return proc
            except psutil.NoSuchProcess:
                continue
        return None

    def stop(self) -> None:
        if self.proc is None:
            return
        family = psutil.Process(self.proc.pid).children(recursive=True) if self.proc.poll() is None else []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for proc in family:  # each child leads a group of its own: nothing may outlive the test
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass


@dataclass
class PlatformStack:
    platform: Platform
    pg: Postgres
    redis: Redis

    def sql(self, query: str, *params) -> list[tuple]:
        with psycopg.connect(self.pg.url, connect_timeout=3) as conn:
            return conn.execute(query, params).fetchall()


@pytest.fixture(scope="session")
def platform_stack(tmp_path_factory):
    """runplatform with two web processes and one fl slot, on a PostgreSQL and a Redis of its own."""
    if missing_binaries():
        pytest.skip(f"needs {', '.join(missing_binaries())}")
    root = tmp_path_factory.mktemp("platform")
    pg, redis = Postgres().start(), Redis().start()
    env = {**os.environ, "DATABASE_URL": pg.url, "REDIS_URL": f"{redis.url}/0", "CELERY_BROKER_URL": f"{redis.url}/1",
           # a silent worker is noticed after 6 s; a child of runplatform comes back after 0.5 s
           "FLCORE_STALE_SECONDS": "6", "FLCORE_SWEEP_SECONDS": "1", "REGIONS_BACKGROUND_PROBE_SECONDS": "0",
           "FEDPLANE_RESTART_BACKOFF": "0.5", "FEDPLANE_RESTART_STABLE_SECONDS": "10",
           # one API key polls through every test of the session
           "FEDPLANE_RATE_LIMIT_DEFAULT": "1000000"}
    platform = Platform(env, root, web_workers=2, concurrency=1)
    try:
        yield PlatformStack(platform.start(), pg, redis)
    finally:
        platform.stop()
        redis.close()
        pg.close()


@pytest.fixture(scope="session")
def platform_clients(platform_stack, digits, tmp_path_factory) -> list[JoinedClient]:
    platform, log_dir = platform_stack.platform, tmp_path_factory.mktemp("platform-clients")
    clients = []
    for index, path in enumerate(digits[0]):
        name = f"platform-client-{index}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "flcore.client.cli", "join", "--api", platform.url, "--api-key", platform.key,
             "--data", str(path), "--name", name, "--heartbeat", "1", "--log-dir", str(log_dir)],
            stdout=open(log_dir / f"{name}.log", "wb"), stderr=subprocess.STDOUT)
        clients.append(JoinedClient(proc, name))
    try:
        with platform.http() as http:
            def connected() -> bool:
                found = {c["name"]: c for c in http.get("/fl/clients", params={"limit": 100}).json()["data"]}
                if all(c.name in found and found[c.name]["nodeId"] for c in clients):
                    for client in clients:
                        client.id = found[client.name]["id"]
                    return True
                return False
            wait_until(connected, timeout=180, interval=0.5, message="clients connected")
        yield clients
    finally:
        for client in clients:
            client.proc.terminate()
        for client in clients:
            try:
                client.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                client.kill()
