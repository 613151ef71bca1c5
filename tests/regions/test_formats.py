"""Every artifact format serves the model's own answers: state dict, ONNX, promoted aggregated model."""
from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.django_db
X = np.random.default_rng(3).normal(size=(5, 4)).astype(np.float32)


def predict(caller, model_id: str) -> np.ndarray:
    response = caller.post(f"/api/v1/models/{model_id}/predict", {"inputs": X.tolist()})
    assert response.status_code == 200, response.content
    return np.asarray(response.json()["data"]["predictions"], dtype=np.float32)


def test_a_torch_state_dict_with_its_layer_list(caller, three_regions, mlp):
    buffer = io.BytesIO()
    torch.save(mlp.state_dict(), buffer)
    assert caller.post("/api/v1/models", {"model_id": "sd"}).status_code == 201
    created = caller.post("/api/v1/models/sd/versions", {
        "version": "1", "format": "torch_state_dict", "region": "eu-west-1",
        "architecture": [{"type": "linear", "in": 4, "out": 8}, {"type": "relu"},
                         {"type": "linear", "in": 8, "out": 1}, {"type": "sigmoid"}],
        "artifact_base64": base64.b64encode(buffer.getvalue()).decode()})
    assert created.status_code == 201, created.content
    assert created.json()["data"]["input_schema"] == {"shape": [-1, 4], "dtype": "float32"}  # read from the layers
    with torch.no_grad():
        assert np.array_equal(predict(caller, "sd"), mlp(torch.from_numpy(X))[:, 0].numpy())


def test_an_unknown_layer_is_refused_at_registration(caller, three_regions):
    caller.post("/api/v1/models", {"model_id": "sd"})
    response = caller.post("/api/v1/models/sd/versions", {"version": "1", "format": "torch_state_dict",
                                                          "region": "eu-west-1",
                                                          "architecture": [{"type": "os.system"}]})
    assert response.status_code == 422 and "unknown layer type" in response.json()["error"]["message"]


def flcore_arrays(seed: int = 0) -> tuple[dict, dict, torch.nn.Module]:
    from flcore.runtime.model import build_model

    spec = {"input-dim": 4, "hidden-dim": 16, "num-classes": 3, "seed": seed}
    module = build_model(spec).eval()
    return {k: v.numpy() for k, v in module.state_dict().items()}, spec, module


def test_an_onnx_graph_served_by_onnxruntime(caller, three_regions):
    from flcore.export import export_model

    arrays, spec, module = flcore_arrays()
    content = export_model(arrays, spec, "onnx").content
    caller.post("/api/v1/models", {"model_id": "onnx-mlp"})
    created = caller.post("/api/v1/models/onnx-mlp/versions", {
        "version": "1", "format": "onnx", "region": "us-east-1",
        "artifact_base64": base64.b64encode(content).decode()})
    assert created.status_code == 201, created.content
    assert created.json()["data"]["input_schema"]["shape"][-1] == 4  # read from the graph
    with torch.no_grad():
        assert np.allclose(predict(caller, "onnx-mlp"), module(torch.from_numpy(X)).numpy(), atol=1e-5)


def test_onnx_runs_on_onnxruntime_and_torch_formats_stay_on_torch(caller, three_regions, registered):
    from flcore.export import export_model
    from regions.services.loading import load_model
    from regions.services.routing import model_routes

    arrays, spec, module = flcore_arrays()
    caller.post("/api/v1/models", {"model_id": "onnx-mlp"})
    assert caller.post("/api/v1/models/onnx-mlp/versions", {
        "version": "1", "format": "onnx", "region": "us-east-1",
        "artifact_base64": base64.b64encode(export_model(arrays, spec, "onnx").content).decode()}).status_code == 201
    runtimes = {}
    for name in ("onnx-mlp", "churn"):
        route = model_routes(name)[0]
        runtimes[name] = load_model(route.version, route.region).meta["runtime"]
    assert runtimes == {"onnx-mlp": "onnxruntime", "churn": "torch"}


def test_without_onnxruntime_an_onnx_model_is_a_clear_503(caller, three_regions, monkeypatch):
    """torch cannot run an ONNX graph: the process says what it lacks, and the replica stays in rotation."""
    import sys

    from flcore.export import export_model

    arrays, spec, _ = flcore_arrays()
    caller.post("/api/v1/models", {"model_id": "onnx-mlp"})
    caller.post("/api/v1/models/onnx-mlp/versions", {
        "version": "1", "format": "onnx", "region": "us-east-1",
        "artifact_base64": base64.b64encode(export_model(arrays, spec, "onnx").content).decode()})
    installed = sys.modules.get("onnxruntime")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime raises ImportError
    response = caller.post("/api/v1/models/onnx-mlp/predict", {"inputs": X.tolist()})
    assert response.status_code == 503, response.content
    error = response.json()["error"]
    assert error["code"] == "RUNTIME_UNAVAILABLE" and "ONNX Runtime" in error["message"]
    sync = caller.get("/api/v1/replication/sync-status?region=us-east-1").json()["data"]
    assert sync["replicas"][0]["status"] == "completed"
    monkeypatch.setitem(sys.modules, "onnxruntime", installed)
    assert caller.post("/api/v1/models/onnx-mlp/predict", {"inputs": X.tolist()}).status_code == 200


def test_a_version_promoted_from_a_federated_aggregated_model(caller, three_regions, settings, tmp_path):
    from flcore.artifacts import round_path, save_arrays
    from flcore.models import AggregatedModel, TrainingExecution, TrainingRound

    settings.FEDPLANE_ARTIFACT_ROOT = tmp_path / "fl-artifacts"
    arrays, spec, module = flcore_arrays(seed=5)
    execution = TrainingExecution.objects.create(model_type="classification", total_rounds=1, config=spec)
    round_ = TrainingRound.objects.create(execution=execution, round_number=1)
    stored = save_arrays(settings.FEDPLANE_ARTIFACT_ROOT, round_path(execution.pk, 1), arrays)
    aggregated = AggregatedModel.objects.create(execution=execution, round=round_, round_number=1,
                                                algorithm="fedavg", artifact_path=stored.path, sha256=stored.sha256,
                                                size_bytes=stored.size_bytes)
    caller.post("/api/v1/models", {"model_id": "fl-digits"})
    response = caller.post("/api/v1/models/fl-digits/versions/promote", {
        "version": "r1", "aggregated_model_id": str(aggregated.pk), "region": "ap-southeast-1"})
    assert response.status_code == 201, response.content
    body = response.json()["data"]
    assert body["source"]["aggregatedModelId"] == str(aggregated.pk) and body["regions"] == {
        "ap-southeast-1": "completed"}
    with torch.no_grad():
        assert np.allclose(predict(caller, "fl-digits"), module(torch.from_numpy(X)).numpy(), atol=1e-6)
    missing = caller.post("/api/v1/models/fl-digits/versions/promote", {
        "version": "r2", "aggregated_model_id": "not-a-uuid", "region": "ap-southeast-1"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "AGGREGATED_MODEL_NOT_FOUND"


def test_a_corrupted_replica_is_never_served_and_leaves_rotation(caller, registered, tmp_path, eager):
    with eager(execute=True):
        caller.post("/api/v1/replication/models", {"model_id": "churn", "source_region": "us-east-1",
                                                   "target_regions": ["eu-west-1"]})
    path = tmp_path / "us-east-1" / registered.artifact_key
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    response = caller.post("/api/v1/models/churn/predict", {"inputs": [[1, 2, 3, 4]]})
    assert response.status_code == 200 and response.json()["data"]["region"] == "eu-west-1"
    sync = caller.get("/api/v1/replication/sync-status?region=us-east-1").json()["data"]
    assert sync["in_sync"] is False and sync["replicas"][0]["status"] == "failed"
    pinned = caller.post("/api/v1/models/churn/predict", {"inputs": [[1, 2, 3, 4]]},
                         HTTP_X_FEDPLANE_ROUTED="us-east-1")
    assert pinned.status_code == 503  # no verified replica there any more


@pytest.mark.parametrize("content", [b"not onnx at all", b"\x08\x07\x12\x00", b"\xff" * 64])
def test_bytes_that_are_not_onnx_are_422_and_nothing_is_stored(client, caller, three_regions, tmp_path, content):
    """protobuf reads many byte strings as some (empty) message: the model's structure is checked too."""
    from regions.models import ModelVersion

    caller.post("/api/v1/models", {"model_id": "onnx-mlp"})
    assert caller.post("/api/v1/models/onnx-mlp/versions", {"version": "1", "format": "onnx",
                                                             "region": "us-east-1"}).status_code == 201
    response = client.put("/api/v1/models/onnx-mlp/versions/1/artifact", data=content,
                          content_type="application/octet-stream", **caller.headers)
    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == "ARTIFACT_INVALID"
    row = ModelVersion.objects.get(model__name="onnx-mlp", version="1")
    assert (row.sha256, row.artifact_key, row.size_bytes) == ("", "", 0)
    assert not [p for p in (tmp_path / "us-east-1").rglob("*") if p.is_file()], "bad bytes left in the store"
    inline = caller.post("/api/v1/models/onnx-mlp/versions", {
        "version": "2", "format": "onnx", "region": "us-east-1", "artifact_base64": base64.b64encode(content).decode()})
    assert inline.status_code == 422 and inline.json()["error"]["code"] == "ARTIFACT_INVALID"
    assert not ModelVersion.objects.filter(model__name="onnx-mlp", version="2").exists()
