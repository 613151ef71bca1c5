"""A throwaway embedded fedplane serving one region, as bench/predict_overhead and bench/predict_peers start it.

    server = EmbeddedServer(region="bench-1").prepare()   # temp FEDPLANE_VAR_DIR, migrate, admin API key
    server.start()                                          # one uvicorn process, waits for /livez
    client = server.client()                                # httpx.Client with the X-API-Key
    ...
    server.stop()

SQLite in a temp dir, no Redis, one uvicorn process of `fedplane.asgi:application` (uvloop and
httptools when installed, as `runplatform` runs its web processes), `--no-access-log`. Rate
limits are raised to 10^9 per hour so the counter runs on every request without answering 429.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]

__all__ = ["REPO", "EmbeddedServer", "env_for", "free_port", "manage", "percentiles"]


def env_for(var_dir: Path, region: str = "bench-1") -> dict[str, str]:
    """This process's environment for an embedded deployment in `var_dir` serving `region`."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env.update({"FEDPLANE_VAR_DIR": str(var_dir), "FEDPLANE_REGION": region, "LOG_LEVEL": "WARNING",
                "FEDPLANE_RATE_LIMIT_DEFAULT": "1000000000", "FEDPLANE_RATE_LIMIT_PREDICT": "1000000000"})
    return env


def manage(env: dict[str, str], *args: str, root: Path = REPO) -> str:
    done = subprocess.run([sys.executable, str(root / "manage.py"), *args], env=env, cwd=root, capture_output=True,
                          text=True, check=True)
    return done.stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p99) of `samples`."""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


class EmbeddedServer:
    """One uvicorn process of fedplane serving `region` from a temp var directory.

    `root`: the source tree to run (default this checkout; e.g. a `git archive` export of a commit)."""

    def __init__(self, region: str = "bench-1", prefix: str = "fedplane-bench-", env: dict[str, str] | None = None,
                 root: Path = REPO):
        self.region, self.root = region, root
        self.var_dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.env = env_for(self.var_dir, region)
        if root != REPO:
            self.env["PYTHONPATH"] = str(root)
        self.env.update(env or {})
        self.key = ""
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def store_dir(self) -> Path:
        """The region's default local store (REGIONS_STORE_ROOT / region): an `artifact_key` is relative to it."""
        return self.var_dir / "regions" / self.region

    def prepare(self) -> EmbeddedServer:
        """Migrate the database and create an admin API key (`self.key`)."""
        manage(self.env, "migrate", "--noinput", root=self.root)
        self.key = manage(self.env, "createadmin", "--quiet-key", root=self.root).splitlines()[-1]
        return self

    def start(self, timeout: float = 60) -> EmbeddedServer:
        self.port = free_port()
        log = open(self.var_dir / "server.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "fedplane.asgi:application", "--host",
                                      "127.0.0.1", "--port", str(self.port), "--no-access-log"], cwd=self.root,
                                     env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.base}/livez", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"fedplane did not start; see {self.var_dir / 'server.log'}")
            time.sleep(0.1)

    def client(self, timeout: float = 30) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"X-API-Key": self.key}, timeout=timeout)

    def stop(self, keep: bool = False) -> None:
        """Stop the server (its process group); remove the var directory unless `keep`."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        if keep:
            print(f"kept {self.var_dir}")
        else:
            shutil.rmtree(self.var_dir, ignore_errors=True)
