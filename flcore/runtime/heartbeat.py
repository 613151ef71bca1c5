"""Task heartbeat that never signals its own process.

Flower's ``HeartbeatSender`` raises SIGINT in the process when the token is gone:
fatal in a Celery worker. This one sets an event and returns instead.
"""

from __future__ import annotations

import threading

import httpx
from flwr.proto.runtime_pb2 import SendTaskHeartbeatRequest  # pylint: disable=E0611
from flwr.supercore.runtime import RuntimeHttpClient

__all__ = ["HEARTBEAT_SECONDS", "TaskHeartbeat", "is_stop_status"]

# Flower revokes a claimed task's token after about 60 s without a heartbeat.
HEARTBEAT_SECONDS = 10.0


def is_stop_status(err: BaseException) -> bool:
    """True for the HTTP errors that mean the task's token was revoked (run stopped)."""
    return isinstance(err, httpx.HTTPStatusError) and err.response.status_code in (401, 403)


class TaskHeartbeat:
    """Background heartbeat for one claimed task; ``revoked`` is set when it ends."""

    def __init__(self, client: RuntimeHttpClient, interval: float = HEARTBEAT_SECONDS) -> None:
        self.client = client
        self.interval = interval
        self.revoked = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="task-heartbeat", daemon=True)

    def start(self) -> TaskHeartbeat:
        """Start beating in a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop beating and wait for the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                alive = self.client.SendTaskHeartbeat(SendTaskHeartbeatRequest()).success
            except httpx.HTTPStatusError as err:
                alive = not is_stop_status(err)
            except httpx.TransportError:
                continue  # transient: the next beat retries well within the 60 s
            if not alive:
                self.revoked.set()
                return
