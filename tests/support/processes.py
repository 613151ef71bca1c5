"""Real server and worker processes for tests: start, wait until ready (polling), stop."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import httpx
from flcore.runtime._process import die_with_parent

ROOT = Path(__file__).resolve().parents[2]

__all__ = ["free_port", "wait_until", "ManagedProcess", "start_server", "start_worker"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], object], *, timeout: float, interval: float = 0.05,
               message: str = "condition") -> object:
    """Poll `predicate` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # the thing polled may not be up yet
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(f"{message} not met within {timeout}s (last error: {last_error!r})")


class ManagedProcess:
    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True, preexec_fn=die_with_parent)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        if self.alive():
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(timeout=timeout)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        self._log.close()


def start_server(env: dict[str, str], log_dir: Path, name: str = "web") -> tuple[ManagedProcess, str]:
    port = free_port()
    proc = ManagedProcess(
        [sys.executable, "-m", "uvicorn", "fedplane.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log", "--ws-ping-interval", "60"],
        env, log_dir / f"{name}-{port}.log")
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if not proc.alive():
            raise RuntimeError(f"server exited:\n{proc.log_tail()}")
        return httpx.get(f"{base}/livez", timeout=1).status_code == 200

    wait_until(up, timeout=60, interval=0.1, message=f"server {name} on {port}")
    return proc, base


def start_worker(env: dict[str, str], log_dir: Path, name: str = "worker", concurrency: int = 2,
                 queues: str = "celery", extra: list[str] | None = None) -> ManagedProcess:
    return ManagedProcess(
        [sys.executable, "-m", "celery", "-A", "fedplane", "worker", "-l", "info", "-P", "prefork",
         "-c", str(concurrency), "-Q", queues, "-n", f"{name}@%h", "--without-gossip", "--without-mingle",
         *(extra or [])],
        env, log_dir / f"{name}.log")
