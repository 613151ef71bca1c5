"""Model artifacts (safetensors + sha256) and the download formats (no Django)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import h5py
import numpy as np
import onnx
import pytest
import torch
from onnx.reference import ReferenceEvaluator

from flcore.artifacts import (
    ArtifactCorrupted,
    load_arrays,
    load_state,
    round_path,
    save_arrays,
    save_state,
    state_path,
)
from flcore.export import (
    AVAILABLE_FORMATS,
    FormatUnavailable,
    ModelSpecMismatch,
    export_model,
    load_exported,
)
from flcore.runtime.model import build_model

SPEC = {"input-dim": 64, "hidden-dim": 32, "num-classes": 10, "seed": 3}


@pytest.fixture(scope="module")
def arrays() -> dict[str, np.ndarray]:
    """An aggregated model's arrays: the default MLP's state dict, moved off its init values
    at the init's own scale (N(0, 1) weights would give logits near 50, where float32
    summation order alone differs by more than the 1e-5 the ONNX check allows)."""
    rng = np.random.default_rng(7)
    state = build_model(SPEC).state_dict()
    return {k: (v.numpy() + rng.standard_normal(v.shape) * v.numpy().std()).astype(np.float32)
            for k, v in state.items()}


def odd_arrays() -> dict[str, np.ndarray]:
    """Tensors that trip careless writers: several dtypes, a scalar, a transposed view."""
    return {
        "layer.0.weight": np.arange(12, dtype=np.float64).reshape(3, 4).T,
        "layer.0.count": np.array(5, dtype=np.int64),
        "half": np.linspace(-1, 1, 7, dtype=np.float16),
        "file": np.array([1, 0, 255], dtype=np.uint8),  # a name np.savez(**kw) cannot take
        "mask": np.array([True, False]),
        "step": np.array([3, -4], dtype=np.int32),
    }


def assert_identical(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert list(got) == list(want)
    for name, a in want.items():
        assert got[name].dtype == a.dtype, name
        assert got[name].shape == a.shape, name
        assert np.array_equal(got[name], a), name


@pytest.mark.parametrize("fmt", AVAILABLE_FORMATS)
def test_every_format_loads_back_identical(arrays: dict[str, np.ndarray], fmt: str) -> None:
    exported = export_model(arrays, SPEC, fmt)
    assert exported.content and exported.content_type
    assert exported.filename.startswith("model.")
    loaded = load_exported(exported.content, fmt)
    if fmt == "onnx":  # the graph's initializers, by name and value
        assert set(loaded) == set(arrays)
        assert_identical({k: loaded[k] for k in arrays}, arrays)
    else:
        assert_identical(loaded, arrays)


@pytest.mark.parametrize("fmt", [f for f in AVAILABLE_FORMATS if f != "onnx"])
def test_tensor_formats_keep_dtypes_scalars_and_order(fmt: str) -> None:
    want = odd_arrays()
    assert_identical(load_exported(export_model(want, {}, fmt).content, fmt), want)


def test_pytorch_export_loads_into_the_model(arrays: dict[str, np.ndarray]) -> None:
    model = build_model(SPEC)
    state = torch.load(io.BytesIO(export_model(arrays, SPEC, "pytorch").content), weights_only=True)
    model.load_state_dict(state)
    assert torch.equal(model[0].weight, torch.from_numpy(arrays["0.weight"]))


def test_onnx_graph_is_valid_and_matches_torch(arrays: dict[str, np.ndarray]) -> None:
    proto = onnx.load_from_string(export_model(arrays, SPEC, "onnx").content)
    onnx.checker.check_model(proto, full_check=True)
    (graph_input,) = proto.graph.input
    dims = graph_input.type.tensor_type.shape.dim
    assert dims[0].dim_param and dims[1].dim_value == SPEC["input-dim"]

    model = build_model(SPEC).eval()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()})
    session = ReferenceEvaluator(proto)
    for batch in (1, 5):
        x = np.random.default_rng(batch).standard_normal((batch, SPEC["input-dim"])).astype(np.float32)
        (logits,) = session.run(None, {graph_input.name: x})
        with torch.no_grad():
            expected = model(torch.from_numpy(x)).numpy()
        assert logits.shape == (batch, SPEC["num-classes"])
        np.testing.assert_allclose(logits, expected, rtol=0, atol=1e-5)


def test_onnx_export_leaves_torch_global_rng_alone(arrays: dict[str, np.ndarray]) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    export_model(arrays, SPEC, "onnx")
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("spec", [{}, {**SPEC, "input-dim": 63}, {**SPEC, "hidden-dim": 8}])
def test_onnx_rejects_a_spec_that_does_not_fit(arrays: dict[str, np.ndarray], spec: dict) -> None:
    with pytest.raises(ModelSpecMismatch):
        export_model(arrays, spec, "onnx")


def test_h5_has_a_group_per_layer_and_the_spec(arrays: dict[str, np.ndarray]) -> None:
    with h5py.File(io.BytesIO(export_model(arrays, SPEC, "h5").content), "r") as f:
        assert list(f) == ["0", "2"]
        assert list(f["0"]) == ["weight", "bias"]
        assert f["2/weight"].shape == (SPEC["num-classes"], SPEC["hidden-dim"])
        assert {k: f.attrs[k] for k in SPEC} == SPEC


@pytest.mark.parametrize("fmt", ["tensorflow", "keras", "TensorFlow", ""])
def test_other_formats_are_unavailable_and_name_the_available_ones(
    arrays: dict[str, np.ndarray], fmt: str
) -> None:
    with pytest.raises(FormatUnavailable) as info:
        export_model(arrays, SPEC, fmt)
    assert info.value.fmt == fmt and info.value.available == list(AVAILABLE_FORMATS)
    assert all(name in str(info.value) for name in AVAILABLE_FORMATS)
    with pytest.raises(FormatUnavailable):
        load_exported(b"", fmt)


def test_artifact_round_trip_with_digest(tmp_path: Path, arrays: dict[str, np.ndarray]) -> None:
    path = round_path("3f2a", 4)
    stored = save_arrays(tmp_path, path, arrays)
    assert stored.path == path == "executions/3f2a/round-4.safetensors"
    on_disk = (tmp_path / path).read_bytes()
    assert stored.sha256 == hashlib.sha256(on_disk).hexdigest()
    assert stored.size_bytes == len(on_disk)
    assert_identical(load_arrays(tmp_path, path, expected_sha256=stored.sha256), arrays)
    assert sorted(p.name for p in (tmp_path / path).parent.iterdir()) == ["round-4.safetensors"]


def test_artifact_keeps_order_dtypes_and_scalars(tmp_path: Path) -> None:
    want = odd_arrays()
    stored = save_arrays(tmp_path, "a/b.safetensors", want)
    assert_identical(load_arrays(tmp_path, stored.path, stored.sha256), want)


def test_flipped_byte_is_detected(tmp_path: Path, arrays: dict[str, np.ndarray]) -> None:
    stored = save_arrays(tmp_path, round_path("e1", 1), arrays)
    file = tmp_path / stored.path
    raw = bytearray(file.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # inside the tensor data: the file still parses
    file.write_bytes(bytes(raw))
    load_arrays(tmp_path, stored.path)  # no digest given: nothing to check against
    with pytest.raises(ArtifactCorrupted) as info:
        load_arrays(tmp_path, stored.path, expected_sha256=stored.sha256)
    assert info.value.expected == stored.sha256 and info.value.actual != stored.sha256


def test_state_is_stored_next_to_the_model(tmp_path: Path, arrays: dict[str, np.ndarray]) -> None:
    model = save_arrays(tmp_path, round_path("e2", 2), arrays)
    moments = {"m.0": np.ones(3, np.float32), "v.0": np.full(3, 0.5, np.float64)}
    state = save_state(tmp_path, model.path, moments)
    assert state.path == state_path(model.path) == "executions/e2/round-2.state.safetensors"
    assert_identical(load_state(tmp_path, model.path, expected_sha256=state.sha256), moments)


def test_overwrite_replaces_and_paths_stay_inside_the_root(tmp_path: Path) -> None:
    first = save_arrays(tmp_path, "x.safetensors", {"w": np.zeros(2, np.float32)})
    second = save_arrays(tmp_path, "x.safetensors", {"w": np.ones(2, np.float32)})
    assert first.sha256 != second.sha256
    assert load_arrays(tmp_path, "x.safetensors", second.sha256)["w"].tolist() == [1.0, 1.0]
    for bad in ("../escape.safetensors", "/etc/passwd", ""):
        with pytest.raises(ValueError):
            save_arrays(tmp_path, bad, {"w": np.zeros(1)})
