"""Typed errors raised by the Flower runtime layer.

The Django side maps each of them to an execution state and an error code.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "AggregationFailed",
    "ClientAppFailed",
    "ClientDisconnected",
    "Diverged",
    "FlowerRuntimeError",
    "InsufficientClients",
    "ProcessStartError",
    "RunStopped",
    "SuperLinkInterrupted",
    "TooManyFailures",
]


class FlowerRuntimeError(Exception):
    """Base class of every error the runtime raises on purpose."""


class ProcessStartError(FlowerRuntimeError):
    """A SuperLink or SuperNode process exited or was not ready before its deadline."""


class InsufficientClients(FlowerRuntimeError):
    """Fewer than the required number of nodes were connected before the deadline."""

    def __init__(self, required: int, connected: int) -> None:
        super().__init__(f"{connected} of {required} required clients connected by the deadline")
        self.required = required
        self.connected = connected


class ClientDisconnected(FlowerRuntimeError):
    """Too few clients replied in a round (some died or timed out).

    ``partial``: when training went through and evaluation failed, the round's record without a
    model (its train updates and evaluate errors), for the control plane to keep.
    """

    exchange: Any = None  # the failed phase's Exchange
    partial: Any = None  # RoundRecord | None

    def __init__(self, round_number: int, replied: int, required: int, lost: list[int]):
        super().__init__(
            f"round {round_number}: {replied} replies, {required} required; "
            f"no reply from nodes {lost}"
        )
        self.round_number = round_number
        self.replied = replied
        self.required = required
        self.lost_node_ids = lost


class TooManyFailures(ClientDisconnected):
    """More of a round's sampled nodes failed than its accepted failure fraction allows."""

    def __init__(self, round_number: int, failed: int, sampled: int, accepted: float, lost: list[int]):
        FlowerRuntimeError.__init__(
            self,
            f"round {round_number}: {failed} of {sampled} sampled nodes failed, more than the accepted "
            f"{accepted:.0%}; failed nodes {lost}",
        )
        self.round_number = round_number
        self.replied = sampled - failed
        self.required = sampled
        self.lost_node_ids = lost


# Words in a ClientApp's error reason that say the global model does not fit the client's one
# (PyTorch's load_state_dict and numpy's broadcasting): the execution fails with FL006, not FL003.
_INCOMPATIBLE = re.compile(r"size mismatch|shape|Missing key|Unexpected key|could not broadcast", re.IGNORECASE)


class ClientAppFailed(ClientDisconnected):
    """A round failed and some of its nodes answered with Flower error replies (the ClientApp could
    not be loaded, raised, or crashed): unlike silence, a retry will not help.

    ``node_errors``: ``[{"nodeId", "code", "codeName", "reason"}]`` per error reply;
    ``lost_node_ids``: the nodes that did not answer at all.
    """

    def __init__(self, summary: str, *, round_number: int | None, phase: str, replied: int, required: int,
                 node_errors: list[dict], lost: list[int]):
        listed = "; ".join(f"node {e['nodeId']}: {e['codeName']} ({e['code']}) {e['reason']}" for e in node_errors)
        FlowerRuntimeError.__init__(self, f"{summary} ({phase}); error replies: {listed}")
        self.round_number, self.replied, self.required = round_number, replied, required
        self.phase = phase
        self.node_errors = node_errors
        self.lost_node_ids = lost

    @classmethod
    def of(cls, cause: ClientDisconnected, phase: str, node_errors: list[dict], lost: list[int]) -> ClientAppFailed:
        """``cause`` (too few good replies) explained by the error replies."""
        return cls(str(cause), round_number=cause.round_number, phase=phase, replied=cause.replied,
                   required=cause.required, node_errors=node_errors, lost=lost)

    @property
    def incompatible(self) -> bool:
        """Every error reply says the model or its arrays do not fit (FL006)."""
        return bool(self.node_errors) and all(_INCOMPATIBLE.search(e["reason"]) for e in self.node_errors)

    def details(self) -> dict:
        return {"round": self.round_number, "phase": self.phase, "nodeErrors": self.node_errors,
                "lostNodeIds": [str(n) for n in self.lost_node_ids]}


class RunStopped(FlowerRuntimeError):
    """The SuperLink revoked the run's token (HTTP 401/403): the run was stopped."""


class SuperLinkInterrupted(FlowerRuntimeError):
    """The SuperLink refused connections while replies were pending: it restarted (or was cut
    off), and the messages in flight may be gone with it. The round cannot be trusted to finish;
    the execution resumes from its last checkpoint in a new Flower run."""

    def __init__(self, pending: int):
        super().__init__(f"the SuperLink was unreachable while {pending} repl(ies) were pending")
        self.pending = pending


class AggregationFailed(FlowerRuntimeError):
    """A round could not produce a model from what the clients sent: too few valid updates after
    screening, or the strategy refused them (FL004; FL006 when every rejected update does not fit
    the model's structure). ``partial``: the round's record, rejected updates included."""

    partial: Any = None

    def __init__(self, message: str, *, round_number: int, rejected: list[dict] | None = None,
                 incompatible: bool = False) -> None:
        super().__init__(message)
        self.round_number = round_number
        self.rejected = rejected or []
        self.incompatible = incompatible

    def details(self) -> dict:
        return {"round": self.round_number, "rejectedUpdates": self.rejected}


class Diverged(FlowerRuntimeError):
    """The training diverged by the execution's own rule (FL008)."""

    def __init__(self, message: str, details: dict) -> None:
        super().__init__(message)
        self._details = details

    def details(self) -> dict:
        return self._details
