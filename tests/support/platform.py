"""`manage.py runplatform` as a test starts it: in a directory of its own, with its own database,
broker, SuperLink and logs, so that killing its children disturbs no other test."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil

from tests.support.processes import ROOT, free_port, wait_until
from flcore.runtime._process import die_with_parent

__all__ = ["Platform"]


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
