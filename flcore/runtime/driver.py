"""Play a run's ServerApp inside the calling process (a Celery task).

Flower's SuperLink runs with ``--isolation process``: it creates the run's ServerApp
task and waits for someone to claim it. ``FlowerDriver`` claims it here, then drives
rounds itself, so fedplane sees every round and can stop between rounds.

One driver per OS process at a time: Flower's ``Message()`` reads a process-global
task identity (``TaskIdentity``). Use Celery's prefork pool, not threads or gevent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Self

import httpx
from flwr.common.constant import SubStatus
from flwr.common.serde import run_from_proto
from flwr.proto.runtime_pb2 import (  # pylint: disable=E0611
    AcquireTaskRequest,
    PullTaskInputRequest,
    PushTaskOutputRequest,
)
from flwr.supercore.constant import TaskType
from flwr.supercore.interceptors import RuntimeTokenHttpInterceptor, RuntimeVersionHttpInterceptor
from flwr.supercore.runtime import RuntimeHttpClient
from flwr.supercore.task_identity import TaskIdentity

from . import discovery
from .control import control_client, start_run, start_run_lock
from .errors import ClientAppFailed, RunStopped
from .grid import ExchangeMixin, FedplaneGrid
from .heartbeat import is_stop_status
from .retry import transient_retry

__all__ = ["FlowerDriver", "NodeSelection"]


class NodeSelection:
    """Which online nodes a run may sample: by node id, or by the fedplane client they serve."""

    def __init__(self, node_ids: Collection[int] | None, client_ids: Collection[str] | None,
                 poll_interval: float) -> None:
        self.node_ids = set(node_ids) if node_ids is not None else None
        self.client_ids = {str(c) for c in client_ids} if client_ids is not None else None
        self.poll_interval = poll_interval
        self.node_configs: dict[int, dict[str, object]] = {}  # node id -> --node-config
        self.unloadable: dict[int, dict[str, Any]] = {}  # node id -> its error reply: the ClientApp did not load
        self.run_id = 0

    @property
    def grid(self) -> ExchangeMixin:
        raise NotImplementedError

    def _allowed(self, node_id: int) -> bool:
        if self.node_ids is not None and node_id not in self.node_ids:
            return False
        if self.client_ids is None:
            return True
        return str(self.node_configs.get(node_id, {}).get("fedplane-client-id")) in self.client_ids

    def wait_for_nodes(self, count: int, timeout: float) -> list[int]:
        """Wait for ``count`` allowed online nodes; ``InsufficientClients`` after ``timeout``."""
        grid = self.grid
        grid.require_nodes(count, timeout)
        deadline = time.monotonic() + timeout
        while True:
            if self.client_ids is not None:
                # Node ids are random per SuperNode start; only the node config
                # names the fedplane client, so ask new nodes for theirs.
                unknown = grid.connected_node_ids() - self.node_configs.keys()
                if unknown:
                    remaining = max(1.0, deadline - time.monotonic())
                    configs, unloadable = discovery.query_nodes(grid, unknown, remaining)
                    self.node_configs.update(configs)
                    self.unloadable.update({int(e["nodeId"]): e for e in unloadable})
            ids = grid.get_node_ids()
            if len(ids) >= count:
                return ids
            self._fail_if_unloadable(grid.connected_node_ids(), count)
            time.sleep(self.poll_interval)

    def _fail_if_unloadable(self, online: set[int], count: int) -> None:
        """Nodes that cannot load the run's ClientApp never will: when the others are too few,
        fail now and say why, rather than wait out the deadline and report too few clients."""
        failed = [self.unloadable[n] for n in sorted(online & self.unloadable.keys())]
        if failed and len(online) - len(failed) < count:
            raise ClientAppFailed(f"{len(failed)} of {len(online)} connected node(s) cannot load the ClientApp, "
                                  f"{count} required", round_number=None, phase="query",
                                  replied=len(online) - len(failed), required=count, node_errors=failed, lost=[])


class FlowerDriver(NodeSelection):
    """One claimed Flower run on a SuperLink: its grid, heartbeat and final status."""

    def __init__(
        self,
        superlink: str,
        *,
        insecure: bool = True,
        root_certificates: bytes | None = None,
        poll_interval: float = 0.2,
        node_ids: Collection[int] | None = None,
        client_ids: Collection[str] | None = None,
        lock: Callable[[str], AbstractContextManager[object]] = start_run_lock,
    ) -> None:
        super().__init__(node_ids, client_ids, poll_interval)
        self.superlink = superlink
        self.insecure = insecure
        self.root_certificates = root_certificates
        self.lock = lock
        self._grid: FedplaneGrid | None = None

    @property
    def grid(self) -> FedplaneGrid:
        """The claimed run's grid (after ``start``)."""
        if self._grid is None:
            raise RuntimeError("FlowerDriver.start() was not called")
        return self._grid

    def _runtime(self, token: str | None = None) -> RuntimeHttpClient:
        interceptors: list[object] = [
            RuntimeVersionHttpInterceptor(component_name="flwr-serverapp")
        ]
        if token:
            interceptors.append(RuntimeTokenHttpInterceptor(token=token))
        return RuntimeHttpClient.from_server_address(
            self.superlink,
            self.insecure,
            self.root_certificates,
            interceptors,  # type: ignore[arg-type]
            retry_invoker=transient_retry(),
        )

    def start(self, fab: bytes, timeout: float = 30.0) -> int:
        """Create a run with ``fab``, claim its ServerApp task, start heartbeats."""
        control = control_client(self.superlink, self.insecure, self.root_certificates)
        acquirer = self._runtime()
        try:
            with self.lock(self.superlink):
                self.run_id = start_run(control, fab)
                token = self._claim(acquirer, timeout)
        finally:
            control.close()
            acquirer.close()
        grid = FedplaneGrid(
            self.superlink,
            token=token,
            insecure=self.insecure,
            root_certificates=self.root_certificates,
            poll_interval=self.poll_interval,
            allowed=self._allowed,
        )
        self._grid = grid  # claimed: from here on ``finish`` must run
        task_input = grid.runtime_client.PullTaskInput(PullTaskInputRequest())
        TaskIdentity.task_id = task_input.task_id
        TaskIdentity.run_id = task_input.run.run_id
        TaskIdentity.node_id = task_input.context.node_id
        grid.set_run(run_from_proto(task_input.run))
        grid.heartbeat.start()
        return self.run_id

    def _claim(self, acquirer: RuntimeHttpClient, timeout: float) -> str:
        """AcquireTask until our run's task comes; fail tasks orphaned by dead drivers."""
        deadline = time.monotonic() + timeout
        request = AcquireTaskRequest(supported_task_types=[TaskType.SERVER_APP])
        while time.monotonic() < deadline:
            res = acquirer.AcquireTask(request)
            if res.HasField("task") and res.task.run_id == self.run_id:
                return str(res.token)
            if res.HasField("task"):
                # Older than ours, yet created outside the lock's protection: its
                # creator died between StartRun and AcquireTask. Close it.
                self._push_output(res.token, SubStatus.FAILED, "orphaned: creator exited")
                continue
            time.sleep(self.poll_interval)
        raise TimeoutError(f"ServerApp task of run {self.run_id} never became claimable")

    def _push_output(self, token: str, status: str, details: str) -> None:
        client = self._runtime(token)
        try:
            client.PushTaskOutput(PushTaskOutputRequest(sub_status=status, details=details))
        finally:
            client.close()

    def finish(self, status: str, details: str = "") -> None:
        """Push the run's final status (COMPLETED, STOPPED or FAILED) and let go."""
        if self._grid is None:
            return
        self._grid.heartbeat.stop()
        try:
            self._grid.runtime_client.PushTaskOutput(
                PushTaskOutputRequest(sub_status=status, details=details)
            )
        except httpx.HTTPStatusError as err:
            if not is_stop_status(err):  # already stopped from outside: nothing to push
                raise
        finally:
            self._grid.close()
            self._grid = None
            # A stale identity would silently tag the next run's messages.
            TaskIdentity.task_id = TaskIdentity.run_id = TaskIdentity.node_id = None  # type: ignore[assignment]

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, _tb: TracebackType | None
    ) -> None:
        if self._grid is None:
            return
        if err is None:
            self.finish(SubStatus.COMPLETED)
        elif isinstance(err, RunStopped) or (isinstance(err, Exception) and is_stop_status(err)):
            self.finish(SubStatus.STOPPED)
        else:
            self.finish(SubStatus.FAILED, f"{kind.__name__ if kind else 'error'}: {err}")
