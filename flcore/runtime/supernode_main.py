"""`flower-supernode` with an adaptive idle poll.

Flower 1.41's SuperNode sleeps a fixed 3 s whenever its pull finds no message
(flwr/supernode/start_client_internal.py), which adds about 3 s to every phase of
every round. This entry point runs the same `flower_supernode()` with that module's
`time.sleep` capped: at FEDPLANE_SUPERNODE_POLL seconds (default 0.2) for
FEDPLANE_SUPERNODE_ACTIVE_SECONDS (30) after the node last received a message, at
FEDPLANE_SUPERNODE_IDLE_POLL (3) otherwise, so idle nodes do not load the SuperLink
(see poll.py; set the idle poll to 0.2 for a fixed fast poll). Flower's own code and
arguments are unchanged: `python -m flcore.runtime.supernode_main ARGS` takes
exactly `flower-supernode ARGS`.
"""
from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from .poll import AdaptivePoll, active_seconds

__all__ = ["main"]


def _adaptive_time(poll: AdaptivePoll) -> SimpleNamespace:
    """The ``time`` module, but ``sleep`` capped at the poll's current interval."""
    names = {name: getattr(time, name) for name in dir(time) if not name.startswith("_")}
    return SimpleNamespace(**{**names, "sleep": lambda seconds: time.sleep(min(seconds, poll.interval))})


def _noting_work(pull: Callable[..., Any], poll: AdaptivePoll) -> Callable[..., Any]:
    """Flower's pull step, telling ``poll`` when it brought a message (a run id)."""

    @functools.wraps(pull)
    def pull_and_store(*args: Any, **kwargs: Any) -> Any:
        run_id = pull(*args, **kwargs)
        if run_id is not None:
            poll.worked()
        return run_id

    return pull_and_store


def main() -> None:
    from flwr.supernode import start_client_internal
    from flwr.supernode.cli import flower_supernode

    fast = float(os.environ.get("FEDPLANE_SUPERNODE_POLL", "0.2"))
    poll = AdaptivePoll(fast, float(os.environ.get("FEDPLANE_SUPERNODE_IDLE_POLL", "3")), active_seconds())
    # The module looks both names up at call time: its loop pulls, then sleeps when
    # nothing came; while a reply is awaited (just after a message) the poll is fast.
    start_client_internal.time = _adaptive_time(poll)
    start_client_internal._pull_and_store_message = _noting_work(  # pylint: disable=protected-access
        start_client_internal._pull_and_store_message, poll)  # pylint: disable=protected-access
    flower_supernode()


if __name__ == "__main__":
    main()
