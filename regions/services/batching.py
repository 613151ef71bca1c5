"""Adaptive batching: concurrent small requests for one loaded model run as one batch.

As Triton's dynamic batcher and MLServer's adaptive batching do. A model whose
`batch_max_size` is above 1 gets one `Batcher` per loaded model (per process, per
version and store), with a queue and up to `instances` worker threads (Triton's instance
count; REGIONS_BATCH_INSTANCES). A request of fewer rows than `batch_max_size` is queued;
a worker takes the oldest request, waits until the rows queued with the same trailing
shape and dtype reach `batch_max_size` or until that request has waited
`batch_max_latency_ms`, concatenates them, runs the model once and hands each caller its
own rows. With 0 ms it takes what is queued at once: under load, the requests that arrived
while a batch ran form the next one.

One worker forms a batch at a time; while it runs the batch, the next free worker forms
the next. With one worker a request that arrives while a batch runs waits for that batch
before its own can run (latency up to max_latency + two batches); with a second, its batch
runs when its window closes (max_latency + one batch), the runtimes' one intra-op thread
each letting two batches share two cores.

What each caller gets is what it would get alone:
- its own rows, split by the row counts it sent (a model whose output does not have one
  row per input row is run again request by request);
- its own errors: a failed batch is run again request by request, so only the request
  that breaks the model fails (shape and dtype were checked against the schema before
  queueing, and requests of different trailing shapes or dtypes never share a batch);
- a share of the batch's compute seconds in proportion to its rows (what metering
  records), while its latency is its own, queue wait included.

No caller is stranded: a closed batcher (its model evicted from the cache, a new version,
`clear_cache`) runs what is queued and takes no more (`submit` answers None and the
caller runs the model itself); the worker leaves after IDLE_SECONDS without work and
starts again on the next request (a forked child starts its own); if the worker ever dies,
the requests still queued get the error instead of waiting forever.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np
from prometheus_client import Counter

__all__ = ["Batched", "Batcher", "batcher_for", "IDLE_SECONDS"]

log = logging.getLogger(__name__)

# Rows per model run = rows / runs (Triton's nv_inference_exec_count against its request counts).
_RUNS = Counter("fedplane_batch_runs", "Model runs by adaptive batching (a request rerun alone counts)",
                ["model"])
_REQUESTS = Counter("fedplane_batch_requests", "Requests answered by adaptive batching", ["model"])
_ROWS = Counter("fedplane_batch_rows", "Rows run by adaptive batching", ["model"])

IDLE_SECONDS = 30.0  # a worker without work for this long leaves; the next request starts a new one
_create_lock = threading.Lock()


@dataclass(frozen=True)
class Batched:
    """One caller's part of a batch."""

    output: np.ndarray
    compute_seconds: float  # the batch's compute, in proportion to this request's rows
    batch_rows: int  # rows in the batch it ran in


@dataclass
class _Item:
    array: np.ndarray
    key: tuple
    queued_at: float
    future: Future = field(default_factory=Future)

    @property
    def rows(self) -> int:
        return len(self.array)


class Batcher:
    """The queue and worker of one loaded model. `run` maps a batch array to an output array."""

    def __init__(self, run: Callable[[np.ndarray], np.ndarray], *, max_size: int, max_latency_ms: float,
                 name: str = "model", instances: int = 1):
        self._run = run
        self.name = name
        self.max_size = max(1, int(max_size))
        self.max_latency = max(0.0, float(max_latency_ms)) / 1000
        self.instances = max(1, int(instances))
        self._queue: deque[_Item] = deque()
        self._rows: dict[tuple, int] = {}  # rows queued per (trailing shape, dtype)
        self._cond = threading.Condition(threading.Lock())
        self._forming = threading.Lock()  # held by the one worker forming the next batch
        self._workers: dict[threading.Thread, bool] = {}  # worker -> running a batch now
        self._closed = False
        self.batches = 0  # model runs (for tests)
        self._counted = (_RUNS.labels(name), _REQUESTS.labels(name), _ROWS.labels(name))

    def configure(self, *, max_size: int, max_latency_ms: float) -> None:
        """New settings (a model's batching changed); the batch being formed uses them at its next look."""
        with self._cond:
            self.max_size = max(1, int(max_size))
            self.max_latency = max(0.0, float(max_latency_ms)) / 1000
            self._cond.notify()

    def submit(self, array: np.ndarray) -> Future | None:
        """Queue `array` (fewer rows than max_size); a Future of its `Batched` part, or None when closed."""
        item = _Item(array=array, key=(array.shape[1:], array.dtype.str), queued_at=time.monotonic())
        with self._cond:
            if self._closed:
                return None
            self._queue.append(item)
            rows = self._rows[item.key] = self._rows.get(item.key, 0) + item.rows
            if self._needs_worker():
                self._start_worker()
            elif len(self._queue) == 1 or rows >= self.max_size:
                self._cond.notify()  # the worker waits for a first request, or for a batch to fill
        return item.future

    def _start_worker(self) -> None:
        worker = threading.Thread(target=self._work, name=f"batcher-{self.name}", daemon=True)
        self._workers[worker] = False
        worker.start()

    def _needs_worker(self) -> bool:
        """Whether a new worker should start (under the lock): none is free to form a batch, and
        fewer than `instances` run (none yet, left idle, or a forked child's copies of its parent's)."""
        for worker in [w for w in self._workers if not w.is_alive()]:
            del self._workers[worker]
        if not self._workers and self._forming.locked():  # held by a parent's worker when this child forked
            self._forming = threading.Lock()
        return len(self._workers) < self.instances and all(self._workers.values())

    def close(self) -> None:
        """Take no more requests; those queued still run."""
        with self._cond:
            self._closed = True
            self._cond.notify()

    @property
    def queued(self) -> int:
        with self._cond:
            return len(self._queue)

    def _work(self) -> None:
        me = threading.current_thread()
        items: list[_Item] | None = []
        try:
            while True:
                if not self._forming.acquire(timeout=IDLE_SECONDS):
                    with self._cond:  # another worker formed batches all along: not needed
                        self._workers.pop(me, None)
                    return
                try:
                    items = self._next_batch()
                finally:
                    self._forming.release()
                if items is None:
                    return
                self._run_batch(items)
                with self._cond:
                    self._workers[me] = False
        except BaseException as exc:  # a bug here must not leave callers waiting: they get the error
            log.exception("batcher of %s stopped", self.name)
            with self._cond:
                stranded = [*(items or []), *self._queue]
                self._workers.pop(me, None)
                self._queue.clear()
                self._rows.clear()
            for item in stranded:
                _fail(item, exc)

    def _next_batch(self) -> list[_Item] | None:
        """The next batch's requests (oldest first), or None when the worker should leave."""
        with self._cond:
            while not self._queue:
                idle = self._closed or not self._cond.wait(IDLE_SECONDS)
                if idle and not self._queue:
                    self._workers.pop(threading.current_thread(), None)
                    return None
            first = self._queue[0]
            while self._rows.get(first.key, 0) < self.max_size and not self._closed:
                remaining = first.queued_at + self.max_latency - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            self._workers[threading.current_thread()] = True  # busy from here: a request queued now needs another
            taken = self._take(first.key)
            if self._queue and self._needs_worker():  # requests queued while this batch formed
                self._start_worker()
            return taken

    def _take(self, key: tuple) -> list[_Item]:
        """Up to max_size rows of requests of `key`, oldest first (at least one); the rest stay queued."""
        taken: list[_Item] = []
        kept: deque[_Item] = deque()
        rows = 0
        while self._queue:
            item = self._queue.popleft()
            if item.key == key and (not taken or rows + item.rows <= self.max_size):
                self._rows[key] -= item.rows
                if item.future.set_running_or_notify_cancel():  # False: its caller gave up (timeout)
                    taken.append(item)
                    rows += item.rows
            else:
                kept.append(item)
                if item.key == key:  # it would overflow this batch; later ones wait behind it
                    kept.extend(self._queue)
                    self._queue.clear()
        self._queue = kept
        if not self._rows.get(key):
            self._rows.pop(key, None)
        return taken

    def _run_batch(self, items: list[_Item]) -> None:
        if not items:
            return
        self.batches += 1
        total = sum(item.rows for item in items)
        runs, requests, rows = self._counted
        runs.inc()
        started = time.perf_counter()
        try:
            output = self._run(items[0].array if len(items) == 1 else np.concatenate([i.array for i in items]))
        except Exception as exc:
            if len(items) == 1:
                items[0].future.set_exception(exc)
                return
            output = None  # someone's rows broke the model: each request alone, so only theirs fails
        compute = time.perf_counter() - started
        if len(items) == 1:  # what it would get alone, whatever its shape
            items[0].future.set_result(Batched(output=output, compute_seconds=compute, batch_rows=total))
            requests.inc()
            rows.inc(total)
            return
        if output is None or not isinstance(output, np.ndarray) or output.ndim < 1 or len(output) != total:
            for item in items:  # failed, or not one output row per input row: each request alone
                self._run_batch([item])
            return
        offset = 0
        for item in items:
            item.future.set_result(Batched(output=output[offset:offset + item.rows],
                                           compute_seconds=compute * item.rows / total, batch_rows=total))
            offset += item.rows
        requests.inc(len(items))
        rows.inc(total)


def _fail(item: _Item, exc: BaseException) -> None:
    future = item.future
    if future.done() or not (future.running() or future.set_running_or_notify_cancel()):
        return  # answered already, or its caller gave up
    future.set_exception(exc)


def batcher_for(loaded, *, max_size: int, max_latency_ms: float, instances: int = 1) -> Batcher:
    """The batcher of a loaded model (`loading.LoadedModel`), made on first use; settings kept current."""
    batcher = loaded.batcher
    if batcher is None:
        with _create_lock:
            batcher = loaded.batcher
            if batcher is None:
                batcher = loaded.batcher = Batcher(loaded.run, max_size=max_size, max_latency_ms=max_latency_ms,
                                                   name=str(loaded.meta.get("name", "model")), instances=instances)
                return batcher
    if batcher.max_size != max_size or batcher.max_latency != max_latency_ms / 1000:
        batcher.configure(max_size=max_size, max_latency_ms=max_latency_ms)
    return batcher
