"""Run a fedplane execution as one Flower run: rounds, callbacks, stop and resume."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Literal

import httpx
import numpy as np
from flwr.app import Array, ArrayRecord
from flwr.common.constant import SubStatus
from flwr.serverapp.strategy import Strategy

from .driver import FlowerDriver
from .errors import RunStopped
from .fab import DEFAULT_CLIENTAPP, build_fab
from .heartbeat import is_stop_status
from .records import ExecutionResult, RoundDirective, RoundRecord
from .rounds import run_round
from .secure import SecureAggregation, run_secure_round

__all__ = ["run_execution"]

Arrays = ArrayRecord | Mapping[str, np.ndarray]
_SAMPLING = ("fraction_train", "fraction_evaluate", "min_train_nodes", "min_evaluate_nodes",
             "min_available_nodes")


@contextmanager
def _directed(
    driver: FlowerDriver, strategy: Strategy, directive: RoundDirective | None, min_clients: int
) -> Iterator[int]:
    """Apply ``directive`` to one round; yields the round's minimum of good replies.

    The directive's clients are all sampled (fractions 1.0) and the strategy's own
    minimums give way to the directive's, then everything is put back.
    """
    if directive is None:
        yield min_clients
        return
    ids = directive.client_ids
    required = (len(ids) if ids else min_clients) if directive.wait_for_all else 1
    saved_clients = driver.client_ids
    saved = {name: getattr(strategy, name) for name in _SAMPLING if hasattr(strategy, name)}
    try:
        if ids:
            driver.client_ids = set(ids)
        for name in saved:
            setattr(strategy, name, 1.0 if name.startswith("fraction") else required)
        yield required
    finally:
        driver.client_ids = saved_clients
        for name, value in saved.items():
            setattr(strategy, name, value)


def run_execution(  # pylint: disable=too-many-arguments,too-many-locals
    *,
    superlink: str,
    strategy: Strategy,
    initial_arrays: Arrays,
    num_rounds: int,
    run_config: Mapping[str, Any],
    min_clients: int = 1,
    on_round: Callable[[RoundRecord, bool], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    accept_round: Callable[[RoundRecord], bool] | None = None,
    on_round_start: Callable[[int, list[int]], None] | None = None,
    on_run_started: Callable[[int], None] | None = None,
    round_directive: Callable[[int], RoundDirective | None] | None = None,
    round_clients: Callable[[int], Collection[str]] | None = None,
    round_offset: int = 0,
    node_ids: Collection[int] | None = None,
    client_ids: Collection[str] | None = None,
    train_config: Mapping[str, Any] | None = None,
    evaluate_config: Mapping[str, Any] | None = None,
    clientapp: str = DEFAULT_CLIENTAPP,
    secure: SecureAggregation | None = None,
    lock: Callable[[str], AbstractContextManager[object]] | None = None,
    connect_timeout: float = 120.0,
    round_timeout: float = 600.0,
    insecure: bool = True,
    root_certificates: bytes | None = None,
) -> ExecutionResult:
    """Run rounds ``round_offset + 1`` .. ``num_rounds`` as one Flower run.

    Callbacks, all in this process: ``on_run_started(run_id)`` once the run is
    claimed; ``on_round_start(round, node_ids)`` after sampling; after each round
    ``accept_round(record)`` (False: the next round starts again from the previous
    global model, e.g. it failed validation) then ``on_round(record, accepted)``;
    ``should_stop()`` before every round; ``round_directive(round)`` just before it
    starts (a manual trigger: which clients, wait for all); ``round_clients(round)``
    just before it too: the fedplane clients it may sample, so clients assigned or
    taken off while the run goes on count from the next round.

    With ``secure``, training runs SecAgg+ (the ClientApp must use ``secaggplus_mod``,
    e.g. ``flcore.runtime.app:secure_app``): the server never sees a client's update.

    ``lock(superlink)`` serialises StartRun + AcquireTask among drivers sharing the
    SuperLink (default: a host-wide file lock; several hosts need a distributed one).

    Resume from checkpoint N with ``round_offset=N`` and that checkpoint's arrays
    (and a strategy object restored with its optimiser state, for FedOpt family).
    Ends ``stopped`` when ``should_stop()`` is true between rounds or the run was
    stopped through the Control API; raises ``InsufficientClients`` or
    ``ClientDisconnected`` (the run is then marked failed on the SuperLink).
    """
    arrays = (
        initial_arrays
        if isinstance(initial_arrays, ArrayRecord)
        else ArrayRecord(
            {k: Array.from_numpy_ndarray(np.asarray(v)) for k, v in initial_arrays.items()}
        )
    )
    driver = FlowerDriver(
        superlink,
        insecure=insecure,
        root_certificates=root_certificates,
        node_ids=node_ids,
        client_ids=client_ids,
        **({"lock": lock} if lock is not None else {}),
    )
    rounds: list[RoundRecord] = []
    status: Literal["completed", "stopped"] = "completed"
    with driver:
        driver.start(build_fab(run_config, clientapp=clientapp))
        if on_run_started is not None:
            on_run_started(driver.run_id)
        try:
            for round_number in range(round_offset + 1, num_rounds + 1):
                if should_stop is not None and should_stop():
                    status = "stopped"
                    driver.finish(SubStatus.STOPPED, "stopped by fedplane")
                    break
                if round_clients is not None:
                    driver.client_ids = {str(c) for c in round_clients(round_number)}
                directive = round_directive(round_number) if round_directive else None
                with _directed(driver, strategy, directive, min_clients) as round_min:
                    common = {
                        "min_clients": round_min,
                        "evaluate_config": evaluate_config or {},
                        "connect_timeout": connect_timeout,
                        "round_timeout": round_timeout,
                        "on_round_start": on_round_start,
                    }
                    if secure is not None:
                        fraction = float(getattr(strategy, "fraction_train", 1.0))
                        candidate, record = run_secure_round(
                            driver, strategy, round_number, arrays, secure=secure, fraction=fraction, **common
                        )
                    else:
                        candidate, record = run_round(
                            driver, strategy, round_number, arrays, train_config=train_config or {}, **common
                        )
                accepted = accept_round(record) if accept_round is not None else True
                if accepted:
                    arrays = candidate
                rounds.append(record)
                if on_round is not None:
                    on_round(record, accepted)
        except (RunStopped, httpx.HTTPStatusError) as err:
            if not isinstance(err, RunStopped) and not is_stop_status(err):
                raise
            status = "stopped"  # stopped through the Control API (token revoked)
            driver.finish(SubStatus.STOPPED)
    last = rounds[-1].round_number if rounds else round_offset
    return ExecutionResult(
        run_id=driver.run_id,
        status=status,
        last_round=last,
        arrays={key: array.numpy() for key, array in arrays.items()},
        rounds=rounds,
    )
