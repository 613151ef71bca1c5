"""Turn a stored artifact into a callable model, cached per process.

Formats: a TorchScript program, an ONNX graph (onnxruntime), or a torch state dict
plus the version's `architecture` (a list of whitelisted layers, so loading never
imports code named by a caller). A replica whose bytes do not match the version's
sha256 is refused, so a corrupted store never serves.
"""
from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from django.conf import settings
from torch import nn

from ..choices import ArtifactFormat
from ..errors import ArtifactMissing, ChecksumMismatch, InvalidInput, RuntimeUnavailable
from ..stores import store_for

__all__ = ["LoadedModel", "load_model", "cached_model", "build_sequential", "clear_cache", "infer_input_schema",
           "check_onnx", "LAYERS"]

# Layers a state-dict architecture may name, with the keyword arguments each takes.
LAYERS: dict[str, Callable[..., nn.Module]] = {
    "linear": lambda **kw: nn.Linear(int(kw["in"]), int(kw["out"]), bias=bool(kw.get("bias", True))),
    "relu": lambda **kw: nn.ReLU(),
    "gelu": lambda **kw: nn.GELU(),
    "tanh": lambda **kw: nn.Tanh(),
    "sigmoid": lambda **kw: nn.Sigmoid(),
    "softmax": lambda **kw: nn.Softmax(dim=int(kw.get("dim", -1))),
    "dropout": lambda **kw: nn.Dropout(float(kw.get("p", 0.5))),
    "flatten": lambda **kw: nn.Flatten(),
    "layernorm": lambda **kw: nn.LayerNorm(int(kw["dim"])),
    "batchnorm1d": lambda **kw: nn.BatchNorm1d(int(kw["dim"])),
}


@dataclass
class LoadedModel:
    """A ready model: `run` maps a batch array to an output array; `meta["runtime"]` says what runs it."""

    run: Callable[[np.ndarray], np.ndarray]
    input_dtype: str
    input_shape: list[int]
    output_dtype: str = "float32"
    meta: dict[str, Any] = field(default_factory=dict)
    batcher: Any = field(default=None, repr=False, compare=False)  # services/batching.py, made on first use
    # What a call costs lately (inf until measured): whether it is cheap enough to run on the
    # event loop (fedplane/api/lean.py).
    call_seconds: float = field(default=float("inf"), compare=False)

    def note_call(self, seconds: float) -> None:
        """One call's wall time, folded into `call_seconds`: the least a call took lately. A wait for
        the GIL when the runtime hands it back only ever adds to a call (an average of those made a
        6 us model look 1 ms long under load), so the minimum is the cost; it rises 1% a call, so a
        model that became slower is followed (x10 in ~230 calls). A race between threads loses a sample."""
        self.call_seconds = min(seconds, self.call_seconds * 1.01) if self.call_seconds != float("inf") else seconds

    @property
    def batchable(self) -> bool:
        """Requests can be stacked along the first axis (the schema does not fix the batch size)."""
        return not self.input_shape or self.input_shape[0] in (-1, None)

    def close(self) -> None:
        """Out of the cache: its batcher runs what it holds and takes no more (callers run it themselves)."""
        if self.batcher is not None:
            self.batcher.close()


def build_sequential(architecture: list[dict[str, Any]]) -> nn.Module:
    if not isinstance(architecture, list) or not architecture:
        raise ValueError("architecture must be a non-empty list of layers")
    layers = []
    for spec in architecture:
        kind = str(spec.get("type", "")).lower() if isinstance(spec, dict) else ""
        if kind not in LAYERS:
            raise ValueError(f"unknown layer type {kind!r}; known: {', '.join(sorted(LAYERS))}")
        try:
            layers.append(LAYERS[kind](**{k: v for k, v in spec.items() if k != "type"}))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"layer {spec!r}: {exc}") from exc
    return nn.Sequential(*layers)


def check_onnx(content: bytes):
    """The parsed ONNX model, or ARTIFACT_INVALID (422): protobuf parses many byte strings as an
    (empty) model, so the model's structure is checked too."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load_from_string(content)
        onnx.checker.check_model(model)
    except (DecodeError, onnx.checker.ValidationError, ValueError, RuntimeError) as exc:
        raise InvalidInput(f"The artifact is not a valid ONNX model: {str(exc)[:300]}",
                           code="ARTIFACT_INVALID", status=422) from None
    return model


def infer_input_schema(fmt: str, architecture: list, content: bytes | None) -> dict[str, Any]:
    """An input schema read from the artifact where the format allows it, else {}."""
    if fmt == ArtifactFormat.TORCH_STATE_DICT and architecture:
        first = next((layer for layer in architecture if layer.get("type") == "linear"), None)
        if first is not None:
            return {"shape": [-1, int(first["in"])], "dtype": "float32"}
    if fmt == ArtifactFormat.ONNX and content:
        import onnx

        graph = check_onnx(content).graph
        initializers = {i.name for i in graph.initializer}
        inputs = [i for i in graph.input if i.name not in initializers]
        if inputs:
            tensor = inputs[0].type.tensor_type
            shape = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
            dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)).name
            return {"shape": shape, "dtype": dtype}
    return {}


def _torch_runner(module: nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    module.eval()
    threads = settings.REGIONS_TORCH_THREADS

    def run(batch: np.ndarray) -> np.ndarray:
        # One intra-op thread per request, as for ONNX below: torch's default (one per core)
        # made a 64-row MLP batch take ~9 ms instead of 0.05 ms on a busy 2-core server, its
        # spinning worker threads competing with the request threads. Checked on every call:
        # the OpenMP setting belongs to the calling thread, and each request has its own.
        if threads and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        with torch.inference_mode():
            out = module(torch.from_numpy(batch))
        if isinstance(out, (tuple, list)):
            out = out[0]
        return out.detach().cpu().numpy()
    return run


def _onnx_runner(content: bytes) -> Callable[[np.ndarray], np.ndarray]:
    try:
        import onnxruntime as ort
    except ImportError:
        # torch cannot run an ONNX graph itself; the artifact is fine, this process lacks the runtime.
        raise RuntimeUnavailable("ONNX models are served by ONNX Runtime, which is not installed in this "
                                 "process (pip install onnxruntime, pinned in requirements.txt).",
                                 details={"format": ArtifactFormat.ONNX, "runtime": "onnxruntime"}) from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # one request per thread; the server runs many
    state = ort.capi.onnxruntime_pybind11_state
    try:
        session = ort.InferenceSession(content, sess_options=options, providers=["CPUExecutionProvider"])
    except (state.Fail, state.InvalidGraph, state.InvalidArgument, state.NotImplemented,
            state.RuntimeException) as exc:  # a graph onnx accepts but this runtime cannot run (an op, an opset)
        raise ValueError(f"ONNX Runtime {ort.__version__} cannot load it: {str(exc)[:300]}") from exc
    name = session.get_inputs()[0].name

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {name: batch})[0]
    return run


def _build(version, content: bytes) -> LoadedModel:
    schema = version.input_schema or {}
    dtype, shape = schema.get("dtype", "float32"), list(schema.get("shape", []))
    runtime = "torch"
    if version.format == ArtifactFormat.TORCHSCRIPT:
        run = _torch_runner(torch.jit.load(io.BytesIO(content), map_location="cpu"))
    elif version.format == ArtifactFormat.ONNX:
        run, runtime = _onnx_runner(content), "onnxruntime"
    else:
        module = build_sequential(version.architecture)
        state = torch.load(io.BytesIO(content), map_location="cpu", weights_only=True)
        module.load_state_dict(state, strict=True)
        run = _torch_runner(module)
    return LoadedModel(run=run, input_dtype=dtype, input_shape=shape,
                       meta={"format": version.format, "sha256": version.sha256, "runtime": runtime,
                             "name": str(version)})


_cache: OrderedDict[tuple[str, int, str], LoadedModel] = OrderedDict()
_lock = threading.Lock()


def cached_model(version, region) -> LoadedModel | None:
    """The loaded model of `version` from `region`'s store if this process holds it; never loads."""
    with _lock:
        return _cache.get((region.store_url, version.pk, version.sha256))


def load_model(version, region) -> LoadedModel:
    """The loaded model of `version` from `region`'s store, from this process's cache if there."""
    cache_key = (region.store_url, version.pk, version.sha256)
    with _lock:
        if cache_key in _cache:
            _cache.move_to_end(cache_key)
            return _cache[cache_key]
    store = store_for(region.store_url)
    if not version.has_artifact or not store.exists(version.artifact_key):
        raise ArtifactMissing(f"Model '{version}' has no artifact in region {region.name}.",
                              details={"model_id": version.model.name, "region": region.name})
    content = store.read_bytes(version.artifact_key)
    import hashlib

    actual = hashlib.sha256(content).hexdigest()
    if actual != version.sha256:
        raise ChecksumMismatch(f"Replica of '{version}' in {region.name} is corrupted.",
                               details={"expected": version.sha256, "actual": actual, "region": region.name})
    try:
        loaded = _build(version, content)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise InvalidInput(f"Artifact of '{version}' cannot be loaded as {version.format}: {exc}",
                           code="ARTIFACT_INVALID", status=422) from exc
    with _lock:
        # Two requests may have loaded it at once: the first one cached is the one everybody uses
        # (one batcher per model), the other copy is dropped.
        loaded = _cache.setdefault(cache_key, loaded)
        _cache.move_to_end(cache_key)
        evicted = [_cache.popitem(last=False)[1] for _ in range(len(_cache) - settings.REGIONS_MODEL_CACHE_SIZE)]
    for old in evicted:
        old.close()
    return loaded


def clear_cache() -> None:
    with _lock:
        evicted = list(_cache.values())
        _cache.clear()
    for old in evicted:
        old.close()
