"""Throwaway PostgreSQL and Redis servers a test may stop and start again.

The suite's shared PostgreSQL and Redis (scripts/services.sh) serve every other test, so
an outage test runs its own instances on free ports, in a temporary folder, each a
foreground child process that dies with the test run.
"""
from __future__ import annotations

import ctypes
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support.processes import ROOT, free_port, wait_until

__all__ = ["missing_binaries", "Postgres", "Redis", "migrate"]


def _pg_bin() -> Path | None:
    found = shutil.which("initdb")
    candidates = [Path(found).resolve().parent] if found else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    return next((c for c in candidates if (c / "postgres").exists()), None)


def missing_binaries() -> list[str]:
    missing = [] if _pg_bin() else ["postgresql"]
    return missing + ([] if shutil.which("redis-server") else ["redis-server"])


def _as_postgres_user():
    """preexec_fn: PostgreSQL refuses to run as root, so as root it runs as `postgres`; then die
    with the test run (a credential change clears the parent-death signal, so set it after)."""
    if os.getuid() == 0:
        user = pwd.getpwnam("postgres")
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class _Server:
    """One foreground server process; `stop` and `start` again on the same port and data."""

    args: list[str]
    preexec = None

    def __init__(self, folder: Path) -> None:
        self.folder, self.port, self.proc = folder, free_port(), None
        self._log = open(folder / f"{type(self).__name__.lower()}.log", "ab")

    def start(self) -> "_Server":
        self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT,
                                     preexec_fn=self.preexec, start_new_session=True)
        wait_until(self.ready, timeout=60, interval=0.1, message=f"{type(self).__name__} on {self.port}")
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def close(self) -> None:
        self.stop(signal.SIGKILL)
        self._log.close()

    def ready(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError(f"{type(self).__name__} exited; see {self.folder}")
        return self.probe()

    def command(self) -> list[str]:
        raise NotImplementedError

    def probe(self) -> bool:
        raise NotImplementedError


class Postgres(_Server):
    """A PostgreSQL cluster of its own; `stop()` is a fast shutdown (`pg_ctl stop -m fast`):
    sessions are cut, new connections refused."""

    preexec = staticmethod(_as_postgres_user)

    def __init__(self) -> None:
        folder = Path(tempfile.mkdtemp(prefix="fedplane-pg-"))
        folder.chmod(0o755)  # the `postgres` user reads its data folder inside
        super().__init__(folder)
        self.bin, self.data = _pg_bin(), folder / "data"
        self.data.mkdir()
        if os.getuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(folder, user.pw_uid, user.pw_gid)
            os.chown(self.data, user.pw_uid, user.pw_gid)
        subprocess.run([str(self.bin / "initdb"), "-D", str(self.data), "-U", "fedplane", "-A", "trust",
                        "--no-sync"], check=True, capture_output=True, preexec_fn=_as_postgres_user)
        self.url = f"postgres://fedplane@127.0.0.1:{self.port}/fedplane"

    def command(self) -> list[str]:
        return [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.folder),
                "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=100"]

    def probe(self) -> bool:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="fedplane", dbname="postgres",
                             connect_timeout=2, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'fedplane'").fetchone():
                conn.execute("CREATE DATABASE fedplane")
        return True

    def stop(self, sig: int = signal.SIGINT) -> None:  # SIGINT: PostgreSQL's fast shutdown
        super().stop(sig)

    def close(self) -> None:
        super().close()
        shutil.rmtree(self.folder, ignore_errors=True)


class Redis(_Server):
    """A redis-server of its own, no persistence (a restart starts empty, as after a crash)."""

    def __init__(self) -> None:
        super().__init__(Path(tempfile.mkdtemp(prefix="fedplane-redis-")))
        self.url = f"redis://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.folder)]

    def probe(self) -> bool:
        import redis

        return redis.Redis(port=self.port, socket_connect_timeout=1).ping()

    def close(self) -> None:
        super().close()
        shutil.rmtree(self.folder, ignore_errors=True)


def migrate(env: dict[str, str]) -> None:
    """Create fedplane's tables in the database `env` points at."""
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env,
                   check=True, capture_output=True, timeout=600)
