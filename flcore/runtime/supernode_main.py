"""`flower-supernode` with a shorter idle poll.

Flower 1.41's SuperNode sleeps a fixed 3 s whenever its pull finds no message
(flwr/supernode/start_client_internal.py), which adds about 3 s to every phase of
every round. This entry point runs the same `flower_supernode()` with that module's
`time.sleep` capped at FEDPLANE_SUPERNODE_POLL seconds (default 0.2). Flower's own
code and arguments are unchanged: `python -m flcore.runtime.supernode_main ARGS`
takes exactly `flower-supernode ARGS`.
"""
from __future__ import annotations

import os
import time
from types import SimpleNamespace

__all__ = ["main"]


def _capped_time(limit: float) -> SimpleNamespace:
    names = {name: getattr(time, name) for name in dir(time) if not name.startswith("_")}
    return SimpleNamespace(**{**names, "sleep": lambda seconds: time.sleep(min(seconds, limit))})


def main() -> None:
    from flwr.supernode import start_client_internal
    from flwr.supernode.cli import flower_supernode

    start_client_internal.time = _capped_time(float(os.environ.get("FEDPLANE_SUPERNODE_POLL", "0.2")))
    flower_supernode()


if __name__ == "__main__":
    main()
