"""Grids that fedplane's round loop drives: Flower's HTTP grid and its in-memory one.

``ExchangeMixin`` holds what both need beyond Flower's ``Grid``: bounded waits for
nodes and ``exchange``, which pushes a phase's messages and collects replies until
all came, their nodes left, or the timeout passed, noting who answered when.

``FedplaneGrid`` (deployment) is ``HttpGrid`` adapted to a long-lived Celery worker:
stock ``HttpGrid`` sleeps 3 s between pulls, waits forever for nodes, and its retry
invoker SIGINTs its own process on HTTP 401 (the run was stopped). Here: a short
poll, a deadline when waiting for nodes, and 401/403 surfacing as ``RunStopped``.

``SimulationGrid`` wraps the ``InMemoryGrid`` that Flower's Simulation Engine hands
its ServerApp: virtual nodes never leave, so liveness is the node list itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
from flwr.app import Message, RecordDict
from flwr.common.constant import ErrorCode
from flwr.proto.node_pb2 import NodeInfo  # pylint: disable=E0611
from flwr.serverapp import Grid
from flwr.supercore.run import Run
from flwr.supercore.runtime import RuntimeHttpClient
from flwr.superlink.grid import HttpGrid

from .errors import InsufficientClients, RunStopped, SuperLinkInterrupted
from .heartbeat import TaskHeartbeat
from .retry import transient_retry

__all__ = ["NO_REPLY_CODES", "Exchange", "ExchangeMixin", "FedplaneGrid", "SimulationGrid"]

_log = logging.getLogger(__name__)

# Error replies the SuperLink writes itself, not the ClientApp: the node went offline, or the message
# or its reply expired (a node killed mid-round stays "online" until its heartbeat lapses, so its
# message usually expires first). All three mean the node never answered: it is lost.
NO_REPLY_CODES = frozenset({ErrorCode.NODE_UNAVAILABLE, ErrorCode.MESSAGE_UNAVAILABLE,
                            ErrorCode.REPLY_MESSAGE_UNAVAILABLE})
# Flower's ErrorCode constants by value (e.g. 1: LOAD_CLIENT_APP_EXCEPTION, the reply for a ClientApp
# that cannot be imported; the flwr-clientapp process itself exits with 607, which only its log shows).
CODE_NAMES = {v: k for k, v in vars(ErrorCode).items() if k.isupper() and isinstance(v, int)}


@dataclass
class Exchange:
    """Replies to one batch of messages, with who never answered and how long each took."""

    answered: list[tuple[int, Message]] = field(default_factory=list)  # (node, reply)
    seconds: dict[int, float] = field(default_factory=dict)  # node -> push-to-reply
    lost: list[int] = field(default_factory=list)  # asked nodes that left without replying
    timed_out: list[int] = field(default_factory=list)  # still connected, no reply by the timeout

    @property
    def replies(self) -> list[Message]:
        """Reply messages, including error replies, as strategies expect them."""
        return [reply for _, reply in self.answered]

    def node_errors(self) -> list[dict[str, Any]]:
        """Each error reply's node, Flower error code (and its name) and reason."""
        return [{"nodeId": str(node), "code": int(reply.error.code),
                 "codeName": CODE_NAMES.get(reply.error.code, "UNKNOWN"), "reason": reply.error.reason}
                for node, reply in self.answered if reply.has_error()]

    @property
    def missing(self) -> list[int]:
        """Every asked node without a reply, for whatever reason."""
        return sorted({*self.lost, *self.timed_out})


class ExchangeMixin:
    """Bounded node waits and reply collection on top of a Flower ``Grid``."""

    poll_interval: float = 0.2
    liveness_interval: float = 1.0
    allowed: Callable[[int], bool] | None = None  # an execution samples only its own clients' nodes
    required_nodes: int = 0
    node_deadline: float | None = None

    def connected_node_ids(self) -> set[int]:
        """Online nodes of the run's federation, before restriction."""
        raise NotImplementedError

    def _refused_since(self, mark: int) -> bool:
        """Whether the SuperLink refused a connection after ``_refusals()`` returned ``mark``."""
        return False

    def _refusals(self) -> int:
        return 0

    def require_nodes(self, count: int, timeout: float) -> None:
        """From now on, ``get_node_ids`` raises if fewer than ``count`` after ``timeout``."""
        self.required_nodes = count
        self.node_deadline = time.monotonic() + timeout

    def get_node_ids(self) -> list[int]:
        """Allowed online nodes; raises once the node deadline passed with too few.

        Strategies' ``sample_nodes`` loops on this forever when nodes are missing;
        raising here bounds that wait.
        """
        ids = sorted(n for n in self.connected_node_ids() if not self.allowed or self.allowed(n))
        late = self.node_deadline is not None and time.monotonic() > self.node_deadline
        if len(ids) < self.required_nodes and late:
            raise InsufficientClients(self.required_nodes, len(ids))
        return ids

    def exchange(self, messages: Iterable[Message], timeout: float) -> Exchange:
        """Push ``messages``; pull replies until all came, their nodes left, or timeout."""
        messages = list(messages)
        sent = time.monotonic()
        # A push the SuperLink's restart cut short may leave messages it knows without their content:
        # a refusal from here on interrupts the exchange (seen, too, when a retried push went through).
        refusals = self._refusals()
        ids = list(self.push_messages(messages))  # type: ignore[attr-defined]
        pushed = list(zip(ids, (m.metadata.dst_node_id for m in messages), strict=True))
        pending = {mid: node for mid, node in pushed if mid}
        result = Exchange(lost=[node for mid, node in pushed if not mid])  # rejected on push
        next_liveness = sent + self.liveness_interval
        while pending and time.monotonic() - sent < timeout:
            if self._refused_since(refusals):
                # It went away while its messages were out, and they may have gone with it: a round sent
                # just before a restart got no reply and waited out its timeout, then failed (FL005).
                raise SuperLinkInterrupted(len(pending))
            for reply in self.pull_messages(list(pending)):  # type: ignore[attr-defined]
                node = pending.pop(reply.metadata.reply_to_message_id)
                if reply.has_error() and reply.error.code in NO_REPLY_CODES:
                    result.lost.append(node)  # the SuperLink answered for a node that never did
                    continue
                result.answered.append((node, reply))
                result.seconds[node] = time.monotonic() - sent
            if pending and time.monotonic() >= next_liveness:
                # A dead SuperNode goes offline (graceful exit: at once; killed:
                # after its heartbeat patience); stop waiting for its reply.
                online = self.connected_node_ids()
                if self._refused_since(refusals):  # nodes not reconnected yet are not lost
                    raise SuperLinkInterrupted(len(pending))
                result.lost += [n for n in pending.values() if n not in online]
                pending = {m: n for m, n in pending.items() if n in online}
                next_liveness = time.monotonic() + self.liveness_interval
            if pending:
                time.sleep(self.poll_interval)
        result.timed_out = list(pending.values())
        return result

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        """Grid API: replies only (see ``exchange``)."""
        return self.exchange(messages, timeout if timeout is not None else 3600.0).replies


class FedplaneGrid(ExchangeMixin, HttpGrid):
    """Grid with bounded waits, fast polling and node restriction (by sampling)."""

    def __init__(
        self,
        runtime_api_address: str,
        *,
        token: str,
        insecure: bool = True,
        root_certificates: bytes | None = None,
        poll_interval: float = 0.2,
        allowed: Callable[[int], bool] | None = None,
    ) -> None:
        super().__init__(runtime_api_address, insecure, root_certificates, token=token)
        self._refused = 0  # connections the SuperLink refused (it was down), counted by the retries
        self._retry_invoker = transient_retry(on_backoff=self._on_backoff)
        self.poll_interval = poll_interval
        self.allowed = allowed
        self.heartbeat = TaskHeartbeat(self._runtime_client)  # started by the driver

    @property
    def runtime_client(self) -> RuntimeHttpClient:
        """The Runtime API client bound to the run's task token."""
        return self._runtime_client

    def _on_backoff(self, state) -> None:
        if isinstance(state.exception, httpx.ConnectError):
            self._refused += 1
        if state.tries == 1:  # once per call: an outage retries many times
            _log.warning("SuperLink call failed (%r); retrying", state.exception)

    def _refusals(self) -> int:
        return self._refused

    def _refused_since(self, mark: int) -> bool:
        return self._refused > mark

    def connected_node_ids(self) -> set[int]:
        if self.heartbeat.revoked.is_set():
            raise RunStopped("run token revoked")
        return {node.node_id for node in self.get_nodes()}


class SimulationGrid(ExchangeMixin, Grid):
    """The Simulation Engine's in-memory grid with fedplane's exchange and node waits."""

    def __init__(self, grid: Grid, *, poll_interval: float = 0.05,
                 allowed: Callable[[int], bool] | None = None) -> None:
        self.inner = grid
        self.poll_interval = poll_interval
        self.allowed = allowed

    def connected_node_ids(self) -> set[int]:
        return set(self.inner.get_node_ids())

    @property
    def run(self) -> Run:
        return self.inner.run

    def set_run(self, run_id: int) -> None:
        self.inner.set_run(run_id)

    def create_message(self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str,
                       ttl: float | None = None) -> Message:
        return self.inner.create_message(content, message_type, dst_node_id, group_id, ttl)

    def get_nodes(self) -> Iterable[NodeInfo]:
        return self.inner.get_nodes()  # type: ignore[attr-defined]

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        return self.inner.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return self.inner.pull_messages(message_ids)
