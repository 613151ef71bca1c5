"""Subprocess plumbing shared by SuperLink and SuperNode processes.

Each Flower process runs in its own session (process group), so stopping it also
stops the children it spawns (SuperExec, ``flwr-clientapp``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Self, TypeVar

from .errors import ProcessStartError

__all__ = ["ManagedProcess", "die_with_parent", "flower_env", "free_port", "poll_until"]

T = TypeVar("T")
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn``: the kernel sends SIGTERM to this child when its parent exits (Linux).

    Children run in their own sessions (a stop signals the whole group), so nothing
    else kills them when their parent dies abruptly: a killed test run or supervisor
    would leave them serving, holding ports and database connections, and consuming
    queues meant for their successors.
    """
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
POLL_SECONDS = 0.1


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def flower_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for Flower processes.

    Flower spawns ``flower-superexec`` and ``flwr-clientapp`` by name, so this
    interpreter's bin directory goes first on PATH. Telemetry and the update check
    make network calls at every start: they are off unless the caller sets them.
    """
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    env.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    env.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")
    env.update(extra or {})
    return env


def poll_until(
    check: Callable[[], T | None],
    timeout: float,
    what: str,
    alive: Callable[[], bool] = lambda: True,
) -> T:
    """Call ``check`` until it returns a value; fail after ``timeout`` or if not ``alive``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        if not alive():
            raise ProcessStartError(f"{what}: process exited")
        if time.monotonic() > deadline:
            raise ProcessStartError(f"{what}: not ready after {timeout:.0f}s")
        time.sleep(POLL_SECONDS)


class ManagedProcess:
    """A Flower command running in its own process group, output in a log file."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.popen: subprocess.Popen[bytes] | None = None
        self._log_offset = 0  # the log may hold earlier processes' output

    def spawn(self, argv: Sequence[str], env: Mapping[str, str]) -> None:
        """Start ``argv`` in a new session, appending its output to the log file."""
        if self.popen is not None:
            raise RuntimeError("process already started")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()
            self.popen = subprocess.Popen(  # pylint: disable=consider-using-with
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env),
                start_new_session=True,
                preexec_fn=die_with_parent,
            )

    def wait_ready(self, check: Callable[[], T | None], timeout: float, what: str) -> T:
        """``poll_until`` for this process; on failure stop it and show its log tail."""
        try:
            return poll_until(check, timeout, what, self.is_alive)
        except ProcessStartError as err:
            self.stop()
            raise ProcessStartError(
                f"{err}\n--- {self.log_path} ---\n{self.log_text()[-2000:]}"
            ) from None

    @property
    def pid(self) -> int | None:
        """OS process id (also the process group id), or None before start."""
        return self.popen.pid if self.popen else None

    def is_alive(self) -> bool:
        """True while the main process runs."""
        return self.popen is not None and self.popen.poll() is None

    def log_text(self) -> str:
        """Everything this process wrote so far."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_offset)
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the process group, then SIGKILL what is left after ``grace``."""
        if self.popen is None:
            return
        self.signal_group(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=grace)
        # Children (SuperExec, ClientApps) may outlive the leader: kill the group.
        self.signal_group(signal.SIGKILL)
        self.popen.wait()

    def kill(self) -> None:
        """SIGKILL the whole process group at once (simulates a crash)."""
        self.signal_group(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait()

    def signal_group(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the process group, ignoring a group already gone."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
