"""The batcher alone (submit -> answer), for its own latency bound and its instance count.

Section 2 of run.py measures callers of the service layer: 32 Python threads whose own work
(routing, metering) waits for the GIL between batches, and a closed loop that sends every
request of a batch back at once. Here only the batcher is timed, two ways:
- open loop: single rows arriving as a Poisson process at a share of one instance's capacity
  (32 rows per 32-row batch time), latency from each request's scheduled arrival (no
  coordinated omission); the p99 bound of issue 12 item 3 is max_latency + one batch;
- closed loop at 64 callers, twice a batch: what a second instance adds when batches queue.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from bench._common.fedplane import percentiles

__all__ = ["open_loop", "closed_loop"]

CALLERS = 128  # threads available to send the open loop's arrivals on time


def _batcher(run: Callable, instances: int, max_latency_ms: float, max_size: int):
    from regions.services.batching import Batcher

    return Batcher(run, max_size=max_size, max_latency_ms=max_latency_ms, name="bench", instances=instances)


def _run_threads(target: Callable[[], None], count: int) -> None:
    threads = [threading.Thread(target=target) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def open_loop(run: Callable, row: np.ndarray, *, rate: float, duration: float, instances: int,
              max_latency_ms: float, max_size: int = 32, seed: int = 0) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, rows a batch) for Poisson arrivals at `rate` a second over `duration` s
    (the first quarter is warm-up, not counted)."""
    batcher = _batcher(run, instances, max_latency_ms, max_size)
    count = int(rate * duration)
    start = time.perf_counter() + 0.2
    arrivals = iter((start + np.cumsum(np.random.default_rng(seed).exponential(1 / rate, count))).tolist())
    lock = threading.Lock()
    latencies: list[tuple[float, float]] = []

    def caller() -> None:
        mine = []
        while True:
            with lock:
                at = next(arrivals, None)
            if at is None:
                break
            if (wait := at - time.perf_counter()) > 0:
                time.sleep(wait)
            batcher.submit(row).result()
            mine.append((at, (time.perf_counter() - at) * 1000))
        with lock:
            latencies.extend(mine)
    _run_threads(caller, CALLERS)
    batcher.close()
    counted = [ms for at, ms in latencies if at >= start + duration / 4]
    p50, p99 = percentiles(counted)
    return p50, p99, count / max(1, batcher.batches)


def closed_loop(run: Callable, row: np.ndarray, *, callers: int, duration: float, instances: int,
                max_latency_ms: float, max_size: int = 32) -> tuple[float, float, float]:
    """(req/s, p50 ms, p99 ms) with `callers` threads sending single rows back to back."""
    batcher = _batcher(run, instances, max_latency_ms, max_size)
    warm_until = time.perf_counter() + 0.5
    stop_at = warm_until + duration
    lock = threading.Lock()
    latencies: list[float] = []

    def caller() -> None:
        mine = []
        while (sent := time.perf_counter()) < stop_at:
            batcher.submit(row).result()
            done = time.perf_counter()
            if sent >= warm_until and done <= stop_at:
                mine.append((done - sent) * 1000)
        with lock:
            latencies.extend(mine)
    _run_threads(caller, callers)
    batcher.close()
    p50, p99 = percentiles(latencies)
    return len(latencies) / duration, p50, p99
