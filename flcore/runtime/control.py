"""Control API calls fedplane makes: start and stop runs, register SuperNodes."""

from __future__ import annotations

import fcntl
import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from flwr.proto.control_pb2 import (  # pylint: disable=E0611
    ListNodesRequest,
    ListRunsRequest,
    RegisterNodeRequest,
    StartRunRequest,
    StopRunRequest,
    UnregisterNodeRequest,
)
from flwr.proto.fab_pb2 import Fab  # pylint: disable=E0611
from flwr.proto.node_pb2 import NodeInfo  # pylint: disable=E0611
from flwr.supercore.control import ControlHttpClient
from flwr.supercore.error import ApiErrorCode, FlowerError
from flwr.supercore.interceptors import RuntimeVersionHttpInterceptor

from .credentials import public_key_pem

__all__ = [
    "control_client",
    "list_nodes",
    "register_node",
    "run_status",
    "start_run",
    "start_run_lock",
    "start_run_lock_path",
    "stop_run",
]


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


def list_nodes(
    address: str,
    insecure: bool = True,
    root_certificates: bytes | None = None,
    *,
    timeout: float | None = None,
) -> list[NodeInfo]:
    """Every SuperNode the SuperLink knows: ``node_id``, ``status`` ("registered",
    "online", "offline", "unregistered"), ``public_key``, ``name``, ...

    ``timeout`` (seconds) replaces Flower's 30 s for callers that answer a request."""
    client = control_client(address, insecure, root_certificates)
    if timeout is not None:
        # Flower's client reads its httpx client's timeout for every call and takes none itself.
        client._client.timeout = httpx.Timeout(timeout)  # pylint: disable=protected-access
    try:
        return list(client.ListNodes(ListNodesRequest()).nodes_info)
    finally:
        client.close()


def register_node(
    address: str,
    public_key: str | bytes,
    name: str | None = None,
    *,
    insecure: bool = False,
    root_certificates: bytes | None = None,
) -> int:
    """Register a SuperNode's public key (PEM or OpenSSH); return its node id.

    With ``--enable-supernode-auth`` only registered keys may connect, and a node
    always gets the id registered with its key. Idempotent: a key registered before
    (also before a SuperLink restart with ``--database``) returns its existing id.
    ``ValueError`` if the key is not an ECDSA public key on a NIST curve, or its
    node was unregistered.
    """
    pem = public_key_pem(public_key)  # Flower matches nodes by these exact bytes
    request = RegisterNodeRequest(public_key=pem)
    if name:
        request.name = name
    client = control_client(address, insecure, root_certificates)
    try:
        try:
            return int(client.RegisterNode(request).node_id)
        except httpx.HTTPStatusError as err:
            error = FlowerError.from_json(err.response.text)
            code = error.code if error else None
            if code == ApiErrorCode.PUBLIC_KEY_NOT_VALID:
                raise ValueError(f"SuperLink rejected the public key: {error}") from None
            if code != ApiErrorCode.PUBLIC_KEY_ALREADY_IN_USE:
                raise
        for node in client.ListNodes(ListNodesRequest()).nodes_info:
            if node.public_key == pem:
                if node.status == "unregistered":  # Flower never frees a key again
                    raise ValueError("this key's node was unregistered; use a new key")
                return int(node.node_id)
        raise RuntimeError("SuperLink says the key is in use but lists no node with it")
    finally:
        client.close()


def unregister_node(
    address: str, node_id: int, *, insecure: bool = False, root_certificates: bytes | None = None
) -> None:
    """Unregister a SuperNode: it goes offline at once and its key is refused from now on
    (Flower never frees a key again). ``ValueError`` if the node is unknown or already
    unregistered."""
    client = control_client(address, insecure, root_certificates)
    try:
        client.UnregisterNode(UnregisterNodeRequest(node_id=node_id))
    except httpx.HTTPStatusError as err:
        if err.response.status_code < 500:
            raise ValueError(f"SuperLink refused to unregister node {node_id}: {err.response.text[:300]}") from None
        raise
    finally:
        client.close()


def start_run_lock_path(address: str) -> Path:
    """The file ``start_run_lock`` locks for the SuperLink at ``address``."""
    name = address.replace(":", "_").replace("/", "_")
    return Path(tempfile.gettempdir()) / f"fedplane-superlink-{name}.lock"


@contextmanager
def start_run_lock(address: str) -> Iterator[None]:
    """Hold a host-wide lock per SuperLink around StartRun + AcquireTask.

    AcquireTask hands out the oldest pending ServerApp task, not a chosen run: two
    drivers interleaving StartRun and AcquireTask could swap runs. Workers on other
    hosts sharing one SuperLink need a distributed lock instead (pass your own).
    """
    with start_run_lock_path(address).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
