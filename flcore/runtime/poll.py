"""An idle poll that is fast while work is coming and slow while it is not.

Every idle SuperNode pulls the SuperLink's Fleet API once per poll: at 0.2 s that is
5 requests/s per node, all on one SuperLink process (about 2% of a core per node
here, so a core at 50 nodes). Flower's fixed 3 s costs a tenth of that but adds up
to 3 s to every phase of every round. fedplane's launcher and warm executor poll
fast for ``FEDPLANE_SUPERNODE_ACTIVE_SECONDS`` after their last message (a run's
rounds follow each other within seconds) and slowly otherwise: an idle federation
costs little, and a run pays the slow poll once, for its first message.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable

__all__ = ["AdaptivePoll", "active_seconds"]


def active_seconds() -> float:
    """How long after its last message a node keeps polling fast (default 30 s)."""
    return float(os.environ.get("FEDPLANE_SUPERNODE_ACTIVE_SECONDS", "30"))


class AdaptivePoll:
    """``interval``: ``fast`` within ``window`` seconds of the last ``worked()``, else ``idle``."""

    def __init__(self, fast: float, idle: float, window: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.fast, self.idle, self.window = fast, max(idle, fast), window
        self._clock = clock
        # A process that just started is usually awaited (a run waiting for its
        # clients, a test): it starts fast.
        self.last_work = clock()

    def worked(self) -> None:
        """A message (or task) came: poll fast for the next ``window`` seconds."""
        self.last_work = self._clock()

    @property
    def interval(self) -> float:
        """Seconds to wait before the next poll."""
        return self.fast if self._clock() - self.last_work < self.window else self.idle
