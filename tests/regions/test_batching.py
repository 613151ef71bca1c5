"""Adaptive batching: concurrent small requests share one model run, each caller gets its own rows and errors.

Batches are made deterministic without sleeps: a gated model holds its first batch until
the other requests are queued (polled with a deadline), so the next batch holds them all.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from regions.services.batching import Batcher

DEADLINE = 20.0  # seconds; a loaded 2-core machine still answers far sooner


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.002)


class Gated:
    """A model (x * 2 + 1, or `fn`) whose first call waits for `release`; records each batch it ran."""

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray] | None = None):
        self.fn = fn or (lambda x: x * 2 + 1)
        self.release = threading.Event()
        self.batches: list[np.ndarray] = []

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if not self.batches:
            self.batches.append(batch)
            assert self.release.wait(DEADLINE)
        else:
            self.batches.append(batch)
        return self.fn(batch)


def rows(n: int, width: int = 4, seed: int = 0) -> list[np.ndarray]:
    data = np.random.default_rng(seed).normal(size=(n, width)).astype(np.float32)
    return [data[i:i + 1] for i in range(n)]


def behind_a_held_batch(model: Gated, batcher: Batcher, arrays: list[np.ndarray]) -> list:
    """Futures of `arrays`, all queued while the model runs a first, held batch; then released."""
    first = batcher.submit(np.zeros((1, arrays[0].shape[1]), np.float32))
    wait_for(lambda: model.batches, "the first batch to start")
    futures = [batcher.submit(a) for a in arrays]
    wait_for(lambda: batcher.queued == len(arrays), "the requests to queue")
    model.release.set()
    first.result(DEADLINE)
    return futures


def test_concurrent_callers_get_their_own_rows_from_one_batch():
    model = Gated()
    batcher = Batcher(model, max_size=16, max_latency_ms=0)
    inputs = rows(16)
    futures = behind_a_held_batch(model, batcher, inputs)
    results = [f.result(DEADLINE) for f in futures]
    assert [len(b) for b in model.batches] == [1, 16]
    for x, result in zip(inputs, results):
        assert np.array_equal(result.output, x * 2 + 1)  # its own rows, as if run alone
        assert result.batch_rows == 16
    assert sum(r.compute_seconds for r in results) == pytest.approx(results[0].compute_seconds * 16)


def test_a_request_that_breaks_the_model_fails_alone():
    def picky(x):
        if (x > 100).any():
            raise ValueError("a value above 100")
        return x * 2 + 1
    model = Gated(picky)
    batcher = Batcher(model, max_size=8, max_latency_ms=0)
    inputs = rows(5)
    inputs[2] = np.full((1, 4), 1000, np.float32)
    futures = behind_a_held_batch(model, batcher, inputs)
    for i, (x, future) in enumerate(zip(inputs, futures)):
        if i == 2:
            with pytest.raises(ValueError, match="above 100"):
                future.result(DEADLINE)
        else:
            assert np.array_equal(future.result(DEADLINE).output, x * 2 + 1)
    assert len(model.batches[1]) == 5  # tried together first, then each alone


def test_requests_of_other_shapes_or_dtypes_never_share_a_batch():
    model = Gated(lambda x: x.sum(axis=1, keepdims=True))
    batcher = Batcher(model, max_size=8, max_latency_ms=0)
    wide, narrow, wide_f64 = rows(1, 4)[0], rows(1, 3)[0], rows(1, 4)[0].astype(np.float64)
    futures = behind_a_held_batch(model, batcher, [wide, narrow, wide, wide_f64])
    for x, future in zip([wide, narrow, wide, wide_f64], futures):
        assert np.allclose(future.result(DEADLINE).output, x.sum(axis=1, keepdims=True))
    assert [(len(b), b.shape[1], b.dtype.name) for b in model.batches[1:]] == [
        (2, 4, "float32"), (1, 3, "float32"), (1, 4, "float64")]


def test_a_model_without_one_output_row_per_input_row_runs_request_by_request():
    model = Gated(lambda x: x.sum(axis=0))  # one answer for the whole batch
    batcher = Batcher(model, max_size=8, max_latency_ms=0)
    inputs = rows(3)
    futures = behind_a_held_batch(model, batcher, inputs)
    for x, future in zip(inputs, futures):
        assert np.array_equal(future.result(DEADLINE).output, x.sum(axis=0))


def test_a_full_batch_runs_at_once_and_a_lone_request_waits_about_max_latency():
    batcher = Batcher(lambda x: x, max_size=4, max_latency_ms=60_000)
    started = time.monotonic()
    futures = [batcher.submit(x) for x in rows(4)]
    assert all(f.result(DEADLINE) for f in futures)
    assert time.monotonic() - started < DEADLINE  # full: it did not wait the minute

    batcher = Batcher(lambda x: x, max_size=8, max_latency_ms=100)
    started = time.monotonic()
    batcher.submit(rows(1)[0]).result(DEADLINE)
    waited = time.monotonic() - started
    assert 0.095 <= waited < 1.0, waited  # waited for company up to max_latency, not longer


def test_a_closed_batcher_runs_what_it_holds_and_takes_no_more():
    batcher = Batcher(lambda x: x * 2 + 1, max_size=8, max_latency_ms=60_000)
    inputs = rows(2)
    futures = [batcher.submit(x) for x in inputs]  # the batch waits a minute for six more rows
    batcher.close()  # its model is evicted or reloaded
    for x, future in zip(inputs, futures):
        assert np.array_equal(future.result(DEADLINE).output, x * 2 + 1)  # at once, not in a minute
    assert batcher.submit(rows(1)[0]) is None  # the caller runs the model itself


def test_a_caller_that_gave_up_is_not_run():
    model = Gated()
    batcher = Batcher(model, max_size=8, max_latency_ms=0)
    inputs = rows(3)
    first = batcher.submit(np.zeros((1, 4), np.float32))
    wait_for(lambda: model.batches, "the first batch")
    futures = [batcher.submit(x) for x in inputs]
    assert futures[1].cancel()
    model.release.set()
    assert first.result(DEADLINE) and futures[0].result(DEADLINE) and futures[2].result(DEADLINE)
    assert len(model.batches[1]) == 2


def test_if_the_worker_dies_its_callers_get_the_error(caplog):
    model = Gated()
    batcher = Batcher(model, max_size=8, max_latency_ms=0)
    first = batcher.submit(np.zeros((1, 4), np.float32))
    wait_for(lambda: model.batches, "the first batch")
    queued = batcher.submit(rows(1)[0])

    def broken(key):
        raise RuntimeError("a bug in the batcher")
    batcher._take = broken
    model.release.set()
    assert first.result(DEADLINE) is not None
    with pytest.raises(RuntimeError, match="a bug"):
        queued.result(DEADLINE)
    assert "batcher of model stopped" in caplog.text  # the bug is logged, not only handed to the callers



def test_with_two_instances_a_batch_formed_while_another_runs_does_not_wait_for_it():
    model = Gated()
    batcher = Batcher(model, max_size=8, max_latency_ms=0, instances=2)
    first = batcher.submit(np.zeros((1, 4), np.float32))
    wait_for(lambda: model.batches, "the first batch to start")  # and held there
    inputs = rows(3)
    futures = [batcher.submit(x) for x in inputs]
    for x, future in zip(inputs, futures):  # answered by the second instance while the first is held
        assert np.array_equal(future.result(DEADLINE).output, x * 2 + 1)
    assert not first.done()
    model.release.set()
    assert np.array_equal(first.result(DEADLINE).output, np.ones((1, 4), np.float32))


def test_no_more_batches_run_at_once_than_instances():
    running, most, lock = [0], [0], threading.Lock()
    release = threading.Event()

    def slow(x):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        release.wait(DEADLINE)
        with lock:
            running[0] -= 1
        return x
    batcher = Batcher(slow, max_size=2, max_latency_ms=0, instances=2)
    futures = [batcher.submit(x) for x in rows(6)]
    wait_for(lambda: running[0] == 2, "two batches to run")
    assert batcher.queued > 0 and running[0] == 2  # the rest wait for an instance
    release.set()
    assert all(f.result(DEADLINE) for f in futures)
    assert most[0] == 2


# Through the service layer: the model's settings, run_tensor, metering.

class Picky(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool((x > 100).any()):
            raise RuntimeError("a value above 100")
        return x * 2 + 1


@pytest.fixture
def metrics(monkeypatch) -> list[dict]:
    """What run_tensor meters, per request (the recorder's writer thread is not what is tested here)."""
    recorded: list[dict] = []
    monkeypatch.setattr("regions.services.serving.record_metric", lambda **row: recorded.append(row))
    return recorded


def concurrently(fn: Callable[[int], object], n: int) -> list:
    results: list = [None] * n

    def call(i: int) -> None:
        try:
            results[i] = fn(i)
        except Exception as exc:  # noqa: BLE001 - asserted by the test
            results[i] = exc
    threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE)
    return results


def batch_counters(model: str) -> list[float]:
    """Runs, requests and rows of the model's batcher, as Prometheus exports them."""
    from prometheus_client import REGISTRY

    return [REGISTRY.get_sample_value(f"fedplane_batch_{n}_total", {"model": model}) or 0.0
            for n in ("runs", "requests", "rows")]


@pytest.mark.django_db
def test_concurrent_predictions_share_a_batch_and_each_is_metered(three_regions, metrics):
    from regions.errors import InvalidInput, PredictionFailed
    from regions.services.loading import load_model
    from regions.services.registry import model_create, version_create
    from regions.services.routing import model_routes
    from regions.services.serving import run_tensor

    from .conftest import torchscript_bytes

    # Nine rows fill a batch; a batch not full would wait ten seconds (the test's time says which happened).
    model_create(name="picky", batching={"batch_max_size": 9, "batch_max_latency_ms": 10_000})
    version_create(model_name="picky", version="1", fmt="torchscript", region_name="us-east-1",
                   input_schema={"shape": [-1, 4], "dtype": "float32"}, content=torchscript_bytes(Picky()))
    route = model_routes("picky")[0]
    loaded = load_model(route.version, route.region)
    inputs = rows(10)
    inputs[9] = np.zeros((1, 3), np.float32)  # not the model's shape: refused before it queues
    counted = batch_counters("picky:1")
    results = concurrently(lambda i: run_tensor(route, inputs[i]), 10)
    assert isinstance(results[9], InvalidInput)
    for x, (output, latency, compute) in zip(inputs, results[:9]):
        assert np.array_equal(output, x * 2 + 1)
    assert loaded.batcher.batches == 1  # nine callers, one model run
    assert [b - a for a, b in zip(counted, batch_counters("picky:1"))] == [1, 9, 9]  # what /metrics shows
    assert sorted(m["status_code"] for m in metrics) == [200] * 9 + [400]
    ok = [m for m in metrics if m["status_code"] == 200]
    assert all(m["batch_size"] == 1 and m["latency_ms"] > 0 and m["compute_seconds"] > 0 for m in ok)
    assert len({m["compute_seconds"] for m in ok}) == 1  # the batch's compute, shared by rows

    metrics.clear()
    inputs = rows(9, seed=1)
    inputs[4] = np.full((1, 4), 1000, np.float32)  # breaks the model: fails alone
    results = concurrently(lambda i: run_tensor(route, inputs[i]), 9)
    assert isinstance(results[4], PredictionFailed) and "above 100" in results[4].message
    for i in (0, 1, 2, 3, 5, 6, 7, 8):
        assert np.array_equal(results[i][0], inputs[i] * 2 + 1)
    assert loaded.batcher.batches == 1 + 1 + 9  # the shared run failed, then each request ran alone
    assert sorted(m["status_code"] for m in metrics) == [200] * 8 + [500]


@pytest.mark.django_db
def test_a_model_reloaded_while_callers_wait_answers_them(three_regions, mlp, metrics):
    from regions.services.loading import clear_cache, load_model
    from regions.services.registry import model_create, version_create
    from regions.services.routing import model_routes
    from regions.services.serving import run_tensor

    from .conftest import torchscript_bytes

    model_create(name="churn", batching={"batch_max_size": 64, "batch_max_latency_ms": 60_000})
    version_create(model_name="churn", version="1", fmt="torchscript", region_name="us-east-1",
                   input_schema={"shape": [-1, 4], "dtype": "float32"}, content=torchscript_bytes(mlp))
    route = model_routes("churn")[0]
    loaded = load_model(route.version, route.region)
    x = rows(1)[0]
    answers = []
    caller = threading.Thread(target=lambda: answers.append(run_tensor(route, x)))
    started = time.monotonic()
    caller.start()
    wait_for(lambda: loaded.batcher is not None and loaded.batcher.queued == 1, "the request to queue")
    clear_cache()  # a reload: the old model's batcher closes, its queue runs now instead of in a minute
    caller.join(DEADLINE)
    assert answers and time.monotonic() - started < DEADLINE
    with torch.no_grad():
        expected = mlp(torch.from_numpy(x)).numpy()
    assert np.allclose(answers[0][0], expected, atol=1e-6)
    assert load_model(route.version, route.region) is not loaded  # the next request has a fresh one


@pytest.mark.django_db
def test_batching_is_set_through_the_api_and_off_by_default(caller, registered, mlp):
    body = caller.get("/api/v1/models/churn").json()["data"]
    assert body["batching"] == {"max_batch_size": 1, "max_latency_ms": 0.0}
    response = caller.call("patch", "/api/v1/models/churn",
                           {"batching": {"max_batch_size": 16, "max_latency_ms": 2}})
    assert response.status_code == 200, response.content
    assert response.json()["data"]["batching"] == {"max_batch_size": 16, "max_latency_ms": 2.0}
    assert caller.call("patch", "/api/v1/models/churn", {"batching": {"max_batch_size": 0}}).status_code == 422
    created = caller.post("/api/v1/models", {"model_id": "other", "batching": {"max_batch_size": 4}})
    assert created.status_code == 201 and created.json()["data"]["batching"] == {"max_batch_size": 4,
                                                                                 "max_latency_ms": 0.0}
    x = [[1.0, 2.0, 3.0, 4.0]]
    response = caller.post("/api/v1/models/churn/predict", {"inputs": x})  # alone through the batcher
    assert response.status_code == 200, response.content
    with torch.no_grad():
        assert np.allclose(response.json()["data"]["predictions"], mlp(torch.tensor(x))[:, 0].numpy(), atol=1e-6)
    from regions.services.loading import load_model
    from regions.services.routing import model_routes

    route = model_routes("churn")[0]
    assert load_model(route.version, route.region).batcher.batches == 1


@pytest.mark.django_db
def test_a_callers_timeout_bounds_its_wait_for_a_batch(three_regions, mlp, metrics):
    from regions.errors import PredictionTimeout
    from regions.services.loading import load_model
    from regions.services.registry import model_create, version_create
    from regions.services.routing import model_routes
    from regions.services.serving import run_tensor

    from .conftest import torchscript_bytes

    model_create(name="churn", batching={"batch_max_size": 64, "batch_max_latency_ms": 60_000})
    version_create(model_name="churn", version="1", fmt="torchscript", region_name="us-east-1",
                   input_schema={"shape": [-1, 4], "dtype": "float32"}, content=torchscript_bytes(mlp))
    route = model_routes("churn")[0]
    started = time.monotonic()
    with pytest.raises(PredictionTimeout):
        run_tensor(route, rows(1)[0], timeout_ms=100)  # the batch would wait a minute for 63 more rows
    assert time.monotonic() - started < DEADLINE
    assert [m["status_code"] for m in metrics] == [504]
    batcher = load_model(route.version, route.region).batcher
    batcher.close()  # what it still holds runs now: the request that gave up is not run
    wait_for(lambda: batcher.queued == 0, "the queue to empty")
    assert batcher.batches == 0
