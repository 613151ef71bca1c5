"""The two models of bench/predict_peers: weights, their ONNX graphs, a NumPy reference, a TorchScript twin.

- **digits**: fedplane's digits MLP, 64 -> 64 -> 10 (`flcore.runtime.model.build_model` with the
  demo's config and seed 0), fed rows of scikit-learn's digits scaled to [0, 1] as in `flcore.demo`.
- **wide**: a compute-bound MLP, 256 -> 2048 -> 2048 -> 2048 -> 10 (8.9 M parameters, 36 MB of
  float32), uniform(+-1/sqrt(fan_in)) weights from NumPy's seeded generator; a 64-row batch takes
  about 10 ms in one onnxruntime thread on the dev VM.

Every server runs the same bytes: an ONNX graph (Gemm + Relu, opset 17) built here with `onnx.helper`
from the weights, run by onnxruntime 1.31.1 with one intra-op thread, which is what fedplane's ONNX
runner does (`regions/services/loading.py`). The weights are also written as `.npz` (the peers' venvs
need nothing but onnxruntime and NumPy to load either).
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["MODELS", "Spec", "weights", "onnx_bytes", "torchscript_bytes", "reference", "sample_inputs"]


@dataclass(frozen=True)
class Spec:
    name: str
    sizes: tuple[int, ...]
    what: str

    @property
    def features(self) -> int:
        return self.sizes[0]


MODELS = {
    "digits": Spec("digits", (64, 64, 10), "digits MLP 64-64-10 (fedplane's demo model)"),
    "wide": Spec("wide", (256, 2048, 2048, 2048, 10), "wide MLP 256-2048x3-10 (8.9 M params, compute-bound)"),
}


def weights(spec: Spec) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(W of shape (in, out), b of shape (out,))] per layer, float32."""
    if spec.name == "digits":
        from flcore.runtime.model import build_model

        state = build_model({"input-dim": 64, "num-classes": 10, "hidden-dim": 64, "seed": 0}).state_dict()
        return [(state[f"{i}.weight"].numpy().T.copy(), state[f"{i}.bias"].numpy().copy()) for i in (0, 2)]
    rng = np.random.default_rng(0)
    layers = []
    for fan_in, fan_out in zip(spec.sizes[:-1], spec.sizes[1:]):
        bound = 1 / np.sqrt(fan_in)
        layers.append((rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32),
                       rng.uniform(-bound, bound, (fan_out,)).astype(np.float32)))
    return layers


def onnx_bytes(layers: list[tuple[np.ndarray, np.ndarray]]) -> bytes:
    """Gemm (+ Relu between layers) with a dynamic batch: input `input` [batch, in], output `output`."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, initializers, current = [], [], "input"
    for i, (w, b) in enumerate(layers):
        initializers += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        out = "output" if i == len(layers) - 1 else f"h{i}"
        nodes.append(helper.make_node("Gemm", [current, f"w{i}", f"b{i}"], [out]))
        current = out
        if i < len(layers) - 1:
            nodes.append(helper.make_node("Relu", [current], [f"r{i}"]))
            current = f"r{i}"
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", layers[0][0].shape[0]])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", layers[-1][0].shape[1]])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def torchscript_bytes(layers: list[tuple[np.ndarray, np.ndarray]]) -> bytes:
    """The same network as a TorchScript program (what fedplane serves with torch)."""
    import torch
    from torch import nn

    modules: list[nn.Module] = []
    for i, (w, b) in enumerate(layers):
        linear = nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w.T.copy()))
            linear.bias.copy_(torch.from_numpy(b))
        modules.append(linear)
        if i < len(layers) - 1:
            modules.append(nn.ReLU())
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(nn.Sequential(*modules).eval()), buffer)
    return buffer.getvalue()


def reference(layers: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
    """The network in NumPy (float64 accumulation), what every server's answer is checked against."""
    h = x.astype(np.float64)
    for i, (w, b) in enumerate(layers):
        h = h @ w.astype(np.float64) + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0)
    return h.astype(np.float32)


def sample_inputs(spec: Spec, rows: int) -> np.ndarray:
    if spec.name == "digits":
        from sklearn.datasets import load_digits

        return (load_digits().data[:rows] / 16.0).astype(np.float32)
    return np.random.default_rng(1).normal(size=(rows, spec.features)).astype(np.float32)


def write_npz(path: Path, layers: list[tuple[np.ndarray, np.ndarray]]) -> None:
    np.savez(path, **{f"w{i}": w for i, (w, _) in enumerate(layers)}, **{f"b{i}": b for i, (_, b) in enumerate(layers)})
