"""Control API calls fedplane makes: start a run with a FAB, stop a run."""

from __future__ import annotations

import fcntl
import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flwr.proto.control_pb2 import (  # pylint: disable=E0611
    ListRunsRequest,
    StartRunRequest,
    StopRunRequest,
)
from flwr.proto.fab_pb2 import Fab  # pylint: disable=E0611
from flwr.supercore.control import ControlHttpClient
from flwr.supercore.interceptors import RuntimeVersionHttpInterceptor

__all__ = ["control_client", "run_status", "start_run", "start_run_lock", "stop_run"]


def control_client(
    address: str, insecure: bool = True, root_certificates: bytes | None = None
) -> ControlHttpClient:
    """Control API client (no account auth: the open-source SuperLink has none)."""
    return ControlHttpClient.from_server_address(
        server_address=address,
        insecure=insecure,
        root_certificates=root_certificates,
        # The SuperLink checks that callers run the same Flower version.
        interceptors=[RuntimeVersionHttpInterceptor(component_name="fedplane")],
    )


def start_run(client: ControlHttpClient, fab: bytes) -> int:
    """Create a run (status pending, one ServerApp task waiting to be claimed)."""
    request = StartRunRequest(fab=Fab(hash_str=hashlib.sha256(fab).hexdigest(), content=fab))
    response = client.StartRun(request)
    if not response.HasField("run_id"):
        raise RuntimeError("SuperLink did not create the run (FAB too large?)")
    return int(response.run_id)


def stop_run(
    address: str, run_id: int, insecure: bool = True, root_certificates: bytes | None = None
) -> bool:
    """Stop a run from any process; its driver sees HTTP 401 and ends as stopped."""
    client = control_client(address, insecure, root_certificates)
    try:
        return bool(client.StopRun(StopRunRequest(run_id=run_id)).success)
    finally:
        client.close()


def run_status(
    address: str, run_id: int, insecure: bool = True, root_certificates: bytes | None = None
) -> tuple[str, str, str]:
    """(status, sub_status, details) of a run, e.g. ("finished", "stopped", "...")."""
    client = control_client(address, insecure, root_certificates)
    try:
        run = client.ListRuns(ListRunsRequest(run_id=run_id)).run_dict[run_id]
        return run.status.status, run.status.sub_status, run.status.details
    finally:
        client.close()


@contextmanager
def start_run_lock(address: str) -> Iterator[None]:
    """Hold a host-wide lock per SuperLink around StartRun + AcquireTask.

    AcquireTask hands out the oldest pending ServerApp task, not a chosen run: two
    drivers interleaving StartRun and AcquireTask could swap runs. Workers on other
    hosts sharing one SuperLink need a distributed lock instead (pass your own).
    """
    name = address.replace(":", "_").replace("/", "_")
    path = Path(tempfile.gettempdir()) / f"fedplane-superlink-{name}.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
