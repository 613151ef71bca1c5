"""The two sides ``bench/scale/deployment.py`` compares, on the same SuperLink and nodes.

- **flower**: Flower's own loop, ``FedAvg.start(grid, ...)``, on a run claimed by
  fedplane's driver (as bench/round_overhead: both poll the SuperLink equally fast);
- **fedplane**: an execution through the service layer, run by the Celery task body
  (eager, in this process), with its rows, events and checkpoints (``product``); or
  ``run_execution`` alone, the call the runner makes, without Django (``driver``).

Each returns the seconds between round starts (rounds 2..R) and how much this
process's RSS grew during the run (the driver's cost), or raises at the first round
with a missing reply (every side waits for all N nodes).
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

import psutil
from flwr.app import ConfigRecord
from flwr.serverapp.strategy import FedAvg

from flcore.runtime import FlowerDriver, build_fab, run_execution
from flcore.runtime.model import initial_arrays

from .cluster import NUMPY_APP

__all__ = ["RunResult", "run_fedplane_driver", "run_fedplane_product", "run_flower"]


@dataclass
class RunResult:
    round_seconds: list[float]
    rss_growth_mb: float = 0.0  # peak RSS of this process during the run, minus before it
    cpu_seconds: float = 0.0  # CPU time of this process (the driver) during the run
    phases: list[dict[str, float]] = field(default_factory=list)  # fedplane's per-phase timings


@contextmanager
def measured(result: RunResult, every: float = 0.02) -> Iterator[None]:
    """This process's CPU time and RSS growth (peak - start) while the block runs.

    CPU time is what the driver itself costs; other work on the machine changes it
    much less than wall time (a longer round only adds the 0.2 s reply polls).
    """
    me, stop = psutil.Process(), threading.Event()
    start = peak = me.memory_info().rss
    cpu = sum(me.cpu_times()[:2])

    def sample() -> None:
        nonlocal peak
        while not stop.wait(every):
            peak = max(peak, me.memory_info().rss)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        result.rss_growth_mb = (max(peak, me.memory_info().rss) - start) / 2**20
        result.cpu_seconds = sum(me.cpu_times()[:2]) - cpu


def per_round(starts: list[float]) -> list[float]:
    return [b - a for a, b in zip(starts, starts[1:])]


class TimedFedAvg(FedAvg):
    """Stock FedAvg that notes when each round starts and fails on a missing reply."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.round_starts: list[float] = []

    def configure_train(self, server_round, arrays, config, grid):  # type: ignore[no-untyped-def]
        self.round_starts.append(time.monotonic())
        return super().configure_train(server_round, arrays, config, grid)

    def _check(self, server_round: int, phase: str, replies: list, expected: int) -> None:
        # Stock FedAvg goes on with what came, so a wedged node would cost every later
        # phase its whole timeout: stop at the first missing reply, as fedplane does.
        missing = sum(1 for r in replies if r.has_error()) + max(0, expected - len(replies))
        if missing:
            raise RuntimeError(f"flower: {missing} of {expected} {phase} replies missing in round {server_round}")

    def aggregate_train(self, server_round, replies):  # type: ignore[no-untyped-def]
        replies = list(replies)
        self._check(server_round, "train", replies, self.min_train_nodes)
        return super().aggregate_train(server_round, replies)

    def aggregate_evaluate(self, server_round, replies):  # type: ignore[no-untyped-def]
        replies = list(replies)
        self._check(server_round, "evaluate", replies, self.min_evaluate_nodes)
        return super().aggregate_evaluate(server_round, replies)


def run_flower(address: str, client_ids: list[str], run_config: dict[str, Any], rounds: int) -> RunResult:
    n = len(client_ids)
    strategy = TimedFedAvg(min_available_nodes=n, min_train_nodes=n, min_evaluate_nodes=n)
    result = RunResult([])
    with measured(result), FlowerDriver(address, client_ids=client_ids) as driver:
        driver.start(build_fab(run_config, clientapp=NUMPY_APP))
        driver.wait_for_nodes(n, 120)
        strategy.start(grid=driver.grid, initial_arrays=initial_arrays(run_config), num_rounds=rounds,
                       train_config=ConfigRecord({}), evaluate_config=ConfigRecord({}), timeout=120)
    result.round_seconds = per_round(strategy.round_starts)
    return result


def run_fedplane_driver(address: str, client_ids: list[str], run_config: dict[str, Any],
                        rounds: int) -> RunResult:
    """``run_execution`` as the runner calls it, minus Django's callbacks."""
    n = len(client_ids)
    starts: list[float] = []
    result = RunResult([])
    with measured(result):
        outcome = run_execution(
            superlink=address, strategy=FedAvg(min_available_nodes=n, min_train_nodes=n, min_evaluate_nodes=n),
            initial_arrays=initial_arrays(run_config), num_rounds=rounds, run_config=run_config, min_clients=n,
            client_ids=client_ids, clientapp=NUMPY_APP, connect_timeout=120, round_timeout=120,
            on_round_start=lambda _round, _nodes: starts.append(time.monotonic()))
    result.round_seconds = per_round(starts)
    result.phases = [record.timings for record in outcome.rounds]
    return result


def run_fedplane_product(user: Any, client_ids: list[str], config: dict[str, Any], rounds: int) -> RunResult:
    """An execution created through the service layer; the eager task runs it on commit."""
    from flcore.services.executions import execution_create

    n = len(client_ids)
    result = RunResult([])
    with measured(result):
        execution = execution_create(user=user, model_type="classification", algorithm="fedavg",
                                     config={**config, "rounds": rounds, "minClients": n}, client_ids=client_ids)
    execution.refresh_from_db()
    if execution.status != "completed":
        raise RuntimeError(f"fedplane execution ended {execution.status}: {execution.error_message}")
    records = list(execution.rounds.order_by("round_number"))
    result.round_seconds = per_round([r.started_at.timestamp() for r in records])
    result.phases = [r.timings for r in records]
    return result
