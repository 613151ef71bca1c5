"""Start the platform's processes (ASGI server, Celery workers, SuperLink) and keep them running.

Used by `manage.py runplatform` (embedded default: one command, no external service) and
by the demo. Production runs the same commands as separate services (see
docker/docker-compose.yml), under a supervisor of its own (systemd, Kubernetes).

`supervise()` is that supervisor here: a child that exits is restarted after a backoff
(exponential, capped, reset once the child has run for a stable period), and the others
keep serving meanwhile.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from django.conf import settings

from flcore.runtime._process import die_with_parent

from .queues import worker_specs

__all__ = ["Backoff", "PlatformProcesses", "server_command", "worker_command"]

log = logging.getLogger(__name__)


def server_command(host: str, port: int, workers: int = 1) -> list[str]:
    # --workers N: uvicorn's own supervisor shares one listening socket among N processes
    # and replaces a worker that dies.
    return [sys.executable, "-m", "uvicorn", "fedplane.asgi:application", "--host", host, "--port", str(port),
            "--no-access-log", *(["--workers", str(workers)] if workers > 1 else [])]


def worker_command(concurrency: int, queues: str = "celery", name: str = "worker") -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "fedplane", "worker", "-l", "info", "-P", "prefork",
            "-c", str(concurrency), "-Q", queues, "-n", f"{name}@%h", "--without-gossip", "--without-mingle"]


@dataclass(frozen=True)
class Backoff:
    """Delay before the n-th restart in a row: initial * 2**(n-1), at most `maximum`.
    A child that ran for `stable_after` seconds before it exited starts again at n=1."""

    initial: float = 1.0
    maximum: float = 30.0
    stable_after: float = 60.0

    def delay(self, failures: int) -> float:
        return min(self.initial * 2 ** max(failures - 1, 0), self.maximum)

    @classmethod
    def from_settings(cls) -> Backoff:
        return cls(settings.FEDPLANE_RESTART_BACKOFF, settings.FEDPLANE_RESTART_BACKOFF_MAX,
                   settings.FEDPLANE_RESTART_STABLE_SECONDS)


@dataclass
class _Child:
    name: str
    args: list[str]
    env: dict[str, str]
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    failures: int = 0  # exits in a row, each after less than the stable period
    restarts: int = 0
    restart_at: float | None = None


@dataclass
class PlatformProcesses:
    host: str = "127.0.0.1"
    port: int = 8000
    worker_concurrency: int = 2
    web_workers: int = 1
    log_dir: Path = field(default_factory=lambda: Path(settings.VAR_DIR) / "logs")
    backoff: Backoff = field(default_factory=Backoff.from_settings)
    children: dict[str, _Child] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{'127.0.0.1' if self.host in ('0.0.0.0', '::') else self.host}:{self.port}"

    @property
    def procs(self) -> dict[str, subprocess.Popen]:
        return {name: child.proc for name, child in self.children.items() if child.proc is not None}

    def _spawn(self, child: _Child) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"{child.name}.log", "ab") as log_file:  # the child keeps its own descriptor
            child.proc = subprocess.Popen(child.args, stdout=log_file, stderr=subprocess.STDOUT, env=child.env,
                                          start_new_session=True, preexec_fn=die_with_parent)
        child.started_at = time.monotonic()

    def _add(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        child = self.children[name] = _Child(name, args, env or os.environ.copy())
        self._spawn(child)

    def _metrics_env(self) -> dict[str, str]:
        """The web and worker processes count in files of one fresh directory per start
        (prometheus_client's multi-process mode), so /metrics sums all of them: requests,
        the rounds workers record, and processes that have been restarted since."""
        metrics_dir = Path(settings.VAR_DIR) / "prometheus" / f"platform-{self.port}"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        return {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}

    def start(self, timeout: float = 60) -> None:
        if settings.FLOWER_MANAGE_SUPERLINK:
            # Flower's SuperLink is a process of the deployment, started by its app's command.
            self._add("superlink", [sys.executable, str(settings.BASE_DIR / "manage.py"), "runsuperlink"])
        env = self._metrics_env()
        self._add("web", server_command(self.host, self.port, self.web_workers), env)
        for name, queues, concurrency, extra in worker_specs(self.worker_concurrency):
            self._add(name, worker_command(concurrency, queues, name) + extra, env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()  # at start an exit is a configuration error: report it, do not retry
            if self._answers(f"{self.url}/livez") and (
                    not settings.FLOWER_MANAGE_SUPERLINK
                    or self._superlink_answers()):
                return
            time.sleep(0.2)
        raise TimeoutError(f"server did not answer on {self.url} within {timeout}s; see {self.log_dir}")

    @classmethod
    def _superlink_answers(cls) -> bool:
        """The SuperLink serves HTTPS (verified with the deployment's CA) when TLS is configured."""
        if settings.FLOWER_SSL_CERTFILE:
            return cls._answers(f"https://{settings.FLOWER_SUPERLINK_ADDRESS}/health",
                                verify=settings.FLOWER_ROOT_CERTIFICATES)
        return cls._answers(f"http://{settings.FLOWER_SUPERLINK_ADDRESS}/health")

    @staticmethod
    def _answers(url: str, verify: bool | str = True) -> bool:
        try:
            return httpx.get(url, timeout=1, verify=verify).status_code == 200
        except httpx.HTTPError:
            return False

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.log_dir / (name + '.log')}")

    def supervise(self) -> None:
        """One pass: schedule a restart of each child that exited, start those that are due."""
        now = time.monotonic()
        for child in self.children.values():
            if child.restart_at is None and child.proc is not None and child.proc.poll() is not None:
                ran = now - child.started_at
                _kill_group(child.proc.pid)  # what it spawned (pool processes, SuperLink) goes with it
                child.failures = 1 if ran >= self.backoff.stable_after else child.failures + 1
                delay = self.backoff.delay(child.failures)
                child.restart_at = now + delay
                log.warning("%s (pid %s) exited with %s after %.1fs; restarting in %.1fs (restart %d)",
                            child.name, child.proc.pid, child.proc.returncode, ran, delay, child.restarts + 1)
            elif child.restart_at is not None and now >= child.restart_at:
                child.restart_at = None
                child.restarts += 1
                self._spawn(child)
                log.warning("%s restarted (pid %s, restart %d); see %s", child.name, child.proc.pid,
                            child.restarts, self.log_dir / f"{child.name}.log")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # each main process shuts its children down
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
            _kill_group(proc.pid)


def _kill_group(pgid: int) -> None:
    """Each child leads its own process group (start_new_session): SIGKILL what is left of it."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
