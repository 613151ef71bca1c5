"""Predict: route to a region, run the model (here or in that region's process), record it.

Every prediction a process runs is recorded as a RequestMetric (latency, compute
seconds, outcome), which health, metrics, deployment validation and cost read; the row
is written by this process's metrics writer thread, off the request path (recorder.py).
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from fedplane.api.errors import DomainError
from fedplane.events.services import emit

from ..choices import AsyncStatus
from ..errors import (ArtifactMissing, AsyncPredictionNotFound, ChecksumMismatch, PredictionFailed,
                      NoHealthyRegion, PredictionTimeout, RegionUnavailable)
from ..models import AsyncPrediction
from . import inflight, recorder
from .batching import Batched, Batcher, batcher_for
from .forwarding import forward_predict
from .loading import LoadedModel, cached_model, load_model
from .registry import model_get
from .routing import Route, cached_local_versions, model_routes
from .tensors import as_batch, check_tensor, output_list

__all__ = ["predict", "run_tensor", "async_prediction_submit", "async_prediction_get", "async_prediction_run",
           "record_metric", "runs_inline", "submit_to_batch", "Submitted", "predict_queue", "predict_queued"]

log = logging.getLogger(__name__)
_executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="predict")


def record_metric(*, region: str, model_name: str, version: str, latency_ms: float, compute_seconds: float,
                  batch_size: int, status_code: int) -> None:
    recorder.record(region=region, model_name=model_name, version=version, latency_ms=latency_ms,
                    compute_seconds=compute_seconds, batch_size=batch_size, status_code=status_code)


def runs_inline(model_name: str, version: str | None, max_call_seconds: float) -> bool:
    """Whether a request for `model_name` (`version`) can be answered without the database, another
    region, a model load or a wait for a batch, by one call of at most `max_call_seconds` lately:
    what may run on the event loop (fedplane/api/lean.py)."""
    found = cached_local_versions(model_name, version)
    if found is None:
        return False
    route, versions = found
    for candidate in versions:
        loaded = cached_model(candidate, route.region)
        if loaded is None or loaded.call_seconds > max_call_seconds or candidate.model.batch_max_size > 1:
            return False
    return True


@dataclass(frozen=True)
class Submitted:
    """A request already queued in its model's batch (by the lean path, from the event loop)."""

    route: Route
    future: Future  # of its `Batched` part
    started: float  # perf_counter when it was queued: its latency counts from there


def submit_to_batch(model_name: str, version: str | None, tensor: np.ndarray) -> Submitted | None:
    """Queue `tensor` in the batch of the model that would serve it, from the caches alone (no
    database, no load, no wait): what the lean path does on the event loop, so that a request waits
    for its batch without holding a thread. None when that cannot be done so (not cached, a canary
    split, batching off or not for this many rows, a tensor the model refuses: the usual path
    answers it)."""
    found = cached_local_versions(model_name, version)
    if found is None or len(found[1]) != 1:
        return None
    route = found[0]
    loaded = cached_model(route.version, route.region)
    if loaded is None:
        return None
    try:
        check_tensor(tensor, dtype=loaded.input_dtype, shape=loaded.input_shape)
    except DomainError:
        return None
    batcher = _batcher(route, loaded, len(tensor), None)
    started = time.perf_counter()
    future = batcher.submit(tensor) if batcher is not None else None
    return Submitted(route, future, started) if future is not None else None


def _run_chunks(loaded: LoadedModel, batch: np.ndarray, batch_size: int) -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    outputs = [loaded.run(batch[i:i + batch_size]) for i in range(0, len(batch), batch_size)]
    seconds = time.perf_counter() - started
    loaded.note_call(seconds / len(outputs))
    return (outputs[0] if len(outputs) == 1 else np.concatenate(outputs)), seconds


def _batcher(route: Route, loaded: LoadedModel, rows: int, batch_size: int | None) -> Batcher | None:
    """The model's batcher when this request joins others' (batching on, fewer rows than a batch, not split)."""
    model = route.version.model
    max_size = model.batch_max_size
    if max_size <= 1 or rows >= max_size or (batch_size and batch_size < rows) or not loaded.batchable:
        return None
    return batcher_for(loaded, max_size=max_size, max_latency_ms=model.batch_max_latency_ms,
                       instances=settings.REGIONS_BATCH_INSTANCES)


def _run(route: Route, loaded: LoadedModel, batch: np.ndarray, size: int, batch_size: int | None,
         timeout_s: float | None, submitted: Future | None = None) -> tuple[np.ndarray, float]:
    """(output, compute seconds): in a shared batch (`submitted` already), or alone (in the pool when
    there is a timeout)."""
    future = submitted
    if future is None:
        batcher = _batcher(route, loaded, len(batch), batch_size)
        future = batcher.submit(batch) if batcher is not None else None  # None: closed (model reloaded)
    if future is None:
        if timeout_s is None:
            return _run_chunks(loaded, batch, size)
        future = _executor.submit(_run_chunks, loaded, batch, size)
    try:
        result = future.result(timeout=timeout_s)
    except FutureTimeout:
        future.cancel()  # still queued: it leaves the queue unrun
        raise
    return (result.output, result.compute_seconds) if isinstance(result, Batched) else result


def run_tensor(route: Route, batch: np.ndarray, *, batch_size: int | None = None,
               timeout_ms: float | None = None, submitted: Submitted | None = None) -> tuple[np.ndarray, float, float]:
    """Run `batch` on the route's model here: (output, latency ms, compute seconds), metric recorded.

    With the model's batching on, a small request shares a batch with concurrent ones
    (services/batching.py); its latency includes the wait, its compute seconds are its
    rows' share of the batch's. `submitted`: `batch` was queued already (`submit_to_batch`).
    """
    region, version = route.region, route.version
    started = submitted.started if submitted is not None else time.perf_counter()
    status, compute = 200, 0.0
    with inflight.serving(region.name):
        try:
            loaded = load_model(version, region)
            check_tensor(batch, dtype=loaded.input_dtype, shape=loaded.input_shape)
            size = max(1, int(batch_size or len(batch) or 1))
            timeout_s = max(0.0, timeout_ms / 1000 - (time.perf_counter() - started)) if timeout_ms else None
            try:
                output, compute = _run(route, loaded, batch, size, batch_size, timeout_s,
                                       submitted.future if submitted is not None else None)
            except FutureTimeout:
                raise PredictionTimeout(f"No answer within {timeout_ms:g} ms.",
                                        details={"timeout_ms": timeout_ms, "region": region.name}) from None
        except DomainError as exc:
            status = exc.status
            raise
        except Exception as exc:  # the model's own code failed: recorded, logged and answered as PREDICTION_FAILED
            status = 500
            log.exception("model %s failed in region %s", version, region.name)
            raise PredictionFailed(f"Model '{version}' failed: {exc.__class__.__name__}: {exc}"[:500],
                                   details={"model_id": version.model.name, "version": version.version,
                                            "region": region.name}) from exc
        finally:
            latency = (time.perf_counter() - started) * 1000
            record_metric(region=region.name, model_name=version.model.name, version=version.version,
                          latency_ms=latency, compute_seconds=compute or (latency / 1000 if status >= 500 else 0),
                          batch_size=len(batch), status_code=status)
    return output, latency, compute


def _batch_of(route: Route, inputs: Any) -> np.ndarray:
    schema = route.version.input_schema or {}
    return as_batch(inputs, dtype=schema.get("dtype", "float32"), shape=list(schema.get("shape", [])))


def _serve_here(route: Route, inputs: Any, parameters: dict[str, Any], *,
                queued: tuple[np.ndarray, Submitted] | None = None) -> dict[str, Any]:
    batch, submitted = queued if queued is not None else (_batch_of(route, inputs), None)
    output, latency, _ = run_tensor(route, batch, batch_size=parameters.get("batch_size"),
                                    timeout_ms=parameters.get("timeout_ms"), submitted=submitted)
    return {"predictions": output_list(output), "model_id": route.version.model.name,
            "model_version": route.version.version, "latency_ms": round(latency, 3), "region": route.region.name}


def predict_queue(model_name: str, inputs: Any) -> tuple[np.ndarray, Submitted] | None:
    """A seed predict without parameters, queued in its model's batch from the caches alone (see
    `submit_to_batch`); None when it is not answered so (a bad input among them: the usual path
    answers it, with its error)."""
    found = cached_local_versions(model_name, None)
    if found is None:
        return None
    try:
        batch = _batch_of(found[0], inputs)
    except DomainError:
        return None
    submitted = submit_to_batch(model_name, None, batch)
    return (batch, submitted) if submitted is not None else None


def predict_queued(queued: tuple[np.ndarray, Submitted]) -> dict[str, Any]:
    """The seed's predict answer of a request `predict_queue` queued."""
    return _serve_here(queued[1].route, None, {}, queued=queued)


def predict(*, model_name: str, inputs: Any, parameters: dict[str, Any] | None = None,
            routed_to: str | None = None, credentials: dict[str, str] | None = None,
            allow_forward: bool = True) -> dict[str, Any]:
    """The seed's predict answer. `routed_to`: a router already chose this process's region."""
    parameters = dict(parameters or {})
    routes = model_routes(model_name, version=parameters.get("version"), only_region=routed_to)
    last_error: RegionUnavailable | None = None
    for route in routes:
        if route.local or routed_to or not allow_forward:
            try:
                return _serve_here(route, inputs, parameters)
            except (ChecksumMismatch, ArtifactMissing):
                _replica_lost(route)  # a bad or missing replica: out of rotation, next region
                if routed_to:
                    raise  # the router that sent it here tries its next region
                last_error = None
                continue
        body = {"inputs": inputs, "parameters": {**parameters, "version": route.version.version}}
        try:
            return forward_predict(endpoint=route.region.endpoint, region=route.region.name, model_name=model_name,
                                   body=body, credentials=credentials or {})
        except RegionUnavailable as exc:  # try the next region
            last_error = exc
            if not exc.details.get("reachable"):  # it did not answer at all: a failed probe, counted now
                from .health import note_failure

                note_failure(route.region, str(exc))
    if last_error is None:  # every replica tried was lost: none left to serve from
        raise NoHealthyRegion(f"No region holds a verified replica of '{model_name}'.",
                              details={"model_id": model_name})
    raise last_error


def _replica_lost(route: Route) -> None:
    from ..choices import ReplicaStatus
    from ..models import Replica
    from .routing import forget

    with transaction.atomic():
        Replica.objects.filter(version=route.version, region=route.region).update(
            status=ReplicaStatus.FAILED, updated_at=timezone.now())
        emit("replication.replica_lost", {"modelId": route.version.model.name, "version": route.version.version,
                                          "region": route.region.name}, severity="error")
    forget()


def async_prediction_submit(*, model_name: str, inputs: Any, parameters: dict | None, user=None) -> AsyncPrediction:
    from ..tasks import run_async_prediction

    model_get(model_name)
    with transaction.atomic():
        row = AsyncPrediction.objects.create(model_name=model_name, inputs=inputs, parameters=parameters or {},
                                             version=(parameters or {}).get("version", ""), requested_by=user)
        emit("prediction.queued", {"predictionId": row.id, "modelId": model_name})
        transaction.on_commit(lambda: run_async_prediction.delay(row.id))
    return row


def async_prediction_get(prediction_id: str) -> AsyncPrediction:
    try:
        return AsyncPrediction.objects.get(pk=prediction_id)
    except AsyncPrediction.DoesNotExist:
        raise AsyncPredictionNotFound(details={"prediction_id": prediction_id}) from None


def async_prediction_run(*, prediction_id: str) -> str:
    row = async_prediction_get(prediction_id)
    if row.status in (AsyncStatus.SUCCEEDED, AsyncStatus.FAILED):
        return row.status
    AsyncPrediction.objects.filter(pk=row.pk).update(status=AsyncStatus.RUNNING)
    try:
        # A worker holds no caller credentials: it serves from a region's store itself.
        result, error, status = predict(model_name=row.model_name, inputs=row.inputs, parameters=row.parameters,
                                        allow_forward=False), None, AsyncStatus.SUCCEEDED
    except DomainError as exc:
        result, error, status = None, {"code": exc.code, "message": exc.message, "details": exc.details}, \
            AsyncStatus.FAILED
    with transaction.atomic():
        AsyncPrediction.objects.filter(pk=row.pk).update(status=status, result=result, error=error,
                                                         completed_at=timezone.now())
        emit(f"prediction.{'completed' if status == AsyncStatus.SUCCEEDED else 'failed'}",
             {"predictionId": row.id, "modelId": row.model_name})
    return status
