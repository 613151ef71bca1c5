"""Run a fedplane execution as one Flower run on a SuperLink (the Deployment Engine)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from .driver import FlowerDriver
from .fab import build_fab
from .loop import RoundLoop
from .records import ExecutionResult

__all__ = ["run_execution"]


def run_execution(
    *,
    superlink: str,
    lock: Callable[[str], AbstractContextManager[object]] | None = None,
    insecure: bool = True,
    root_certificates: bytes | None = None,
    **loop: Any,
) -> ExecutionResult:
    """Run rounds ``round_offset + 1`` .. ``num_rounds`` as one Flower run on ``superlink``.

    ``loop`` holds ``RoundLoop``'s fields (strategy, initial_arrays, num_rounds,
    run_config, callbacks, ...: see flcore/runtime/loop.py). ``lock(superlink)``
    serialises StartRun + AcquireTask among drivers sharing the SuperLink (default: a
    host-wide file lock; several hosts need a distributed one).

    Ends ``stopped`` when ``should_stop()`` is true between rounds or the run was
    stopped through the Control API; raises ``InsufficientClients`` or
    ``ClientDisconnected`` (the run is then marked failed on the SuperLink).
    """
    rounds = RoundLoop(**loop)
    driver = FlowerDriver(
        superlink,
        insecure=insecure,
        root_certificates=root_certificates,
        node_ids=rounds.node_ids,
        client_ids=rounds.client_ids,
        **({"lock": lock} if lock is not None else {}),
    )
    with driver:
        driver.start(build_fab(rounds.run_config, clientapp=rounds.clientapp))
        return rounds.run(driver)
