"""Start the platform's processes: an ASGI server and Celery workers.

Used by `manage.py runplatform` (embedded default: one command, no external
service) and by the demo. Production runs the same two commands as separate
services (see docker/docker-compose.yml).
"""
from __future__ import annotations

import os
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

__all__ = ["PlatformProcesses", "server_command", "worker_command"]


def server_command(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "fedplane.asgi:application", "--host", host, "--port", str(port),
            "--no-access-log"]


def worker_command(concurrency: int, queues: str = "celery", name: str = "worker") -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "fedplane", "worker", "-l", "info", "-P", "prefork",
            "-c", str(concurrency), "-Q", queues, "-n", f"{name}@%h", "--without-gossip", "--without-mingle"]


@dataclass
class PlatformProcesses:
    host: str = "127.0.0.1"
    port: int = 8000
    worker_concurrency: int = 2
    log_dir: Path = field(default_factory=lambda: Path(settings.VAR_DIR) / "logs")
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{'127.0.0.1' if self.host in ('0.0.0.0', '::') else self.host}:{self.port}"

    def _spawn(self, name: str, args: list[str]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy(),
                                            start_new_session=True, preexec_fn=die_with_parent)

    def start(self, timeout: float = 60) -> None:
        if settings.FLOWER_MANAGE_SUPERLINK:
            # Flower's SuperLink is a process of the deployment, started by its app's command.
            self._spawn("superlink", [sys.executable, str(settings.BASE_DIR / "manage.py"), "runsuperlink"])
        self._spawn("web", server_command(self.host, self.port))
        for name, queues, concurrency, extra in worker_specs(self.worker_concurrency):
            self._spawn(name, worker_command(concurrency, queues, name) + extra)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
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

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # each main process shuts its children down
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
