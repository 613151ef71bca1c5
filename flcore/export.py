"""An aggregated model in the download formats the API offers, and back to arrays.

``pytorch``, ``h5``, ``safetensors`` and ``npz`` carry the state dict's tensors
under their state-dict names; ``onnx`` is a runnable graph of fedplane's default
model (``flcore.runtime.model.build_model``) with the tensors as initializers.
"""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np
import onnx
import safetensors.numpy
import torch
from onnx import helper, numpy_helper

from .artifacts import ORDER_KEY
from .runtime.model import build_model

__all__ = [
    "AVAILABLE_FORMATS",
    "ExportedModel",
    "FormatUnavailable",
    "ModelSpecMismatch",
    "export_model",
    "load_exported",
]

AVAILABLE_FORMATS: tuple[str, ...] = ("pytorch", "onnx", "h5", "safetensors", "npz")
_OCTET = "application/octet-stream"
_SPEC_KEY = "fedplane.model_spec"
_ONNX_OPSET = 17


class FormatUnavailable(ValueError):
    """The requested format cannot be produced here (e.g. ``tensorflow`` without TensorFlow)."""

    def __init__(self, fmt: str, available: tuple[str, ...] = AVAILABLE_FORMATS) -> None:
        self.fmt, self.available = fmt, list(available)
        super().__init__(f"Model format {fmt!r} is not available; available formats: "
                         f"{', '.join(self.available)}.")


class ModelSpecMismatch(ValueError):
    """The model spec does not describe the stored arrays (missing keys, wrong shapes)."""


@dataclass(frozen=True)
class ExportedModel:
    """A downloadable model file."""

    content: bytes
    content_type: str
    filename: str


def _tensors(arrays: Mapping[str, np.ndarray]) -> OrderedDict[str, torch.Tensor]:
    # torch.from_numpy wants a writable contiguous buffer; copy only when it is not one.
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for name, a in arrays.items():
        a = np.asarray(a)
        ok = a.flags.c_contiguous and a.flags.writeable
        out[name] = torch.from_numpy(a if ok else np.array(a, order="C"))
    return out


def _pytorch(arrays: Mapping[str, np.ndarray], spec: Mapping[str, Any]) -> bytes:
    buf = io.BytesIO()
    torch.save(_tensors(arrays), buf)
    return buf.getvalue()


def _onnx(arrays: Mapping[str, np.ndarray], spec: Mapping[str, Any]) -> bytes:
    with torch.random.fork_rng(devices=[]):  # build_model seeds torch's global generator
        try:
            model = build_model(spec)
        except KeyError as exc:
            raise ModelSpecMismatch(f"model spec lacks {exc.args[0]!r}") from exc
    state = _tensors(arrays)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelSpecMismatch(f"arrays do not fit the model spec {dict(spec)}: {exc}") from exc
    dtype = next((t.dtype for t in state.values() if t.is_floating_point()), torch.float32)
    model = model.to(dtype).eval()
    example = torch.zeros(1, int(spec["input-dim"]), dtype=dtype)
    buf = io.BytesIO()
    # The TorchScript exporter needs no onnxscript; torch 2.13 marks it deprecated.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (example,), buf, dynamo=False, opset_version=_ONNX_OPSET,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                          do_constant_folding=False)
    proto = onnx.load_from_string(buf.getvalue())
    helper.set_model_props(proto, {_SPEC_KEY: json.dumps(dict(spec), sort_keys=True)})
    return proto.SerializeToString()


def _h5(arrays: Mapping[str, np.ndarray], spec: Mapping[str, Any]) -> bytes:
    buf = io.BytesIO()
    with h5py.File(buf, "w", track_order=True) as f:
        for name, a in arrays.items():  # "0.weight" -> group "0", dataset "weight"
            *groups, leaf = name.split(".")
            node = f
            for g in groups:
                node = node[g] if g in node else node.create_group(g, track_order=True)
            node.create_dataset(leaf, data=np.asarray(a))
        for key, value in spec.items():
            scalar = isinstance(value, (int, float, str, bool))
            f.attrs[key] = value if scalar else json.dumps(value)
        f.attrs[_SPEC_KEY] = json.dumps(dict(spec), sort_keys=True)
        f.attrs[ORDER_KEY] = json.dumps(list(arrays))
    return buf.getvalue()


def _safetensors(arrays: Mapping[str, np.ndarray], spec: Mapping[str, Any]) -> bytes:
    tensors = {name: np.asarray(a, order="C") for name, a in arrays.items()}
    meta = {ORDER_KEY: json.dumps(list(tensors)), _SPEC_KEY: json.dumps(dict(spec), sort_keys=True)}
    return safetensors.numpy.save(tensors, metadata=meta)


def _npz(arrays: Mapping[str, np.ndarray], spec: Mapping[str, Any]) -> bytes:
    # Written entry by entry: np.savez(**arrays) breaks on a tensor named "file".
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, a in arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, np.asarray(a), allow_pickle=False)
    return buf.getvalue()


_Writer = Callable[[Mapping[str, np.ndarray], Mapping[str, Any]], bytes]
_WRITERS: dict[str, tuple[_Writer, str, str]] = {  # format -> writer, file extension, content type
    "pytorch": (_pytorch, "pt", _OCTET),
    "onnx": (_onnx, "onnx", _OCTET),
    "h5": (_h5, "h5", "application/x-hdf5"),
    "safetensors": (_safetensors, "safetensors", _OCTET),
    "npz": (_npz, "npz", "application/zip"),
}


def _format(fmt: str) -> str:
    key = str(fmt).strip().lower()
    if key not in AVAILABLE_FORMATS:
        raise FormatUnavailable(fmt)
    return key


def export_model(arrays: Mapping[str, np.ndarray], model_spec: Mapping[str, Any], fmt: str,
                 *, stem: str = "model") -> ExportedModel:
    """``arrays`` (state-dict order) as a file in ``fmt``; ``FormatUnavailable`` otherwise."""
    write, ext, content_type = _WRITERS[_format(fmt)]
    return ExportedModel(write(arrays, model_spec), content_type, f"{stem}.{ext}")


def _h5_read(f: h5py.File) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = {}

    def visit(path: str, node: object) -> None:
        if isinstance(node, h5py.Dataset):
            found[path.replace("/", ".")] = np.asarray(node[()])

    f.visititems(visit)
    return _ordered(found, f.attrs.get(ORDER_KEY))


def _ordered(found: dict[str, np.ndarray], order: str | None) -> dict[str, np.ndarray]:
    return {name: found[name] for name in json.loads(order)} if order else found


def load_exported(content: bytes, fmt: str) -> dict[str, np.ndarray]:
    """The tensors of an exported file (for ``onnx``: the graph's initializers)."""
    key = _format(fmt)
    if key == "pytorch":
        state = torch.load(io.BytesIO(content), map_location="cpu", weights_only=True)
        return {name: t.numpy() for name, t in state.items()}
    if key == "onnx":
        proto = onnx.load_from_string(content)
        return {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    if key == "h5":
        with h5py.File(io.BytesIO(content), "r") as f:
            return _h5_read(f)
    if key == "safetensors":
        header_len = int.from_bytes(content[:8], "little")
        meta = json.loads(content[8:8 + header_len]).get("__metadata__") or {}
        return _ordered(safetensors.numpy.load(content), meta.get(ORDER_KEY))
    with np.load(io.BytesIO(content), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}
