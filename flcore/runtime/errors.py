"""Typed errors raised by the Flower runtime layer.

The Django side maps each of them to an execution state and an error code.
"""

from __future__ import annotations

__all__ = [
    "ClientDisconnected",
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
    """Too few clients replied in a round (some died or timed out)."""

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


class RunStopped(FlowerRuntimeError):
    """The SuperLink revoked the run's token (HTTP 401/403): the run was stopped."""


class SuperLinkInterrupted(FlowerRuntimeError):
    """The SuperLink refused connections while replies were pending: it restarted (or was cut
    off), and the messages in flight may be gone with it. The round cannot be trusted to finish;
    the execution resumes from its last checkpoint in a new Flower run."""

    def __init__(self, pending: int):
        super().__init__(f"the SuperLink was unreachable while {pending} repl(ies) were pending")
        self.pending = pending
