"""Open Inference Protocol v2: health, metadata, JSON and binary tensors, 400 on bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.django_db


def test_health_endpoints_are_public(client):
    assert client.get("/v2/health/live").status_code == 200
    ready = client.get("/v2/health/ready")
    assert ready.status_code == 200 and ready.json()["ready"] is True and ready.json()["inflight"] == 0


def test_model_endpoints_need_credentials(client, registered):
    response = client.get("/v2/models/churn")
    assert response.status_code == 401 and "error" in response.json()


def test_model_metadata_and_ready(caller, registered):
    meta = caller.get("/v2/models/churn").json()
    assert meta["name"] == "churn" and meta["versions"] == ["1.0.0"]
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
    assert caller.get("/v2/models/churn/versions/1.0.0/ready").json()["ready"] is True


def test_json_infer_equals_a_direct_call(caller, registered, mlp):
    x = np.arange(8, dtype=np.float32).reshape(2, 4) / 10
    body = {"id": "r1", "inputs": [{"name": "input", "datatype": "FP32", "shape": [2, 4], "data": x.ravel().tolist()}]}
    response = caller.post("/v2/models/churn/versions/1.0.0/infer", body)
    assert response.status_code == 200, response.content
    out = response.json()
    assert out["id"] == "r1" and out["model_version"] == "1.0.0"
    tensor = out["outputs"][0]
    with torch.no_grad():
        expected = mlp(torch.from_numpy(x)).numpy()
    assert tensor["shape"] == [2, 1] and tensor["datatype"] == "FP32"
    assert np.array_equal(np.asarray(tensor["data"], dtype=np.float32).reshape(2, 1), expected)


def test_binary_tensors_round_trip_exactly(caller, registered, mlp):
    x = np.random.default_rng(7).normal(size=(64, 4)).astype(np.float32)
    head = json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [64, 4],
                                   "parameters": {"binary_data_size": x.nbytes}}],
                       "outputs": [{"name": "output", "parameters": {"binary_data": True}}]}).encode()
    response = caller.call("post", "/v2/models/churn/infer", head + x.astype("<f4").tobytes(),
                           HTTP_INFERENCE_HEADER_CONTENT_LENGTH=str(len(head)))
    assert response.status_code == 200, response.content
    length = int(response.headers["Inference-Header-Content-Length"])
    meta = json.loads(response.content[:length])
    tensor = meta["outputs"][0]
    got = np.frombuffer(response.content[length:], dtype="<f4").reshape(tensor["shape"])
    with torch.no_grad():
        expected = mlp(torch.from_numpy(x)).numpy()
    assert tensor["parameters"]["binary_data_size"] == expected.nbytes
    assert got.tobytes() == expected.astype("<f4").tobytes()  # bit for bit


@pytest.mark.parametrize("spec, fragment", [
    ({"datatype": "FP64", "shape": [1, 4], "data": [1, 2, 3, 4]}, "dtype"),
    ({"datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}, "shape"),
    ({"datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3]}, "needs 4"),
    ({"datatype": "STRING", "shape": [1], "data": ["x"]}, "Unsupported datatype"),
    ({"datatype": "FP32", "shape": [1, 4], "data": ["a", "b", "c", "d"]}, "not FP32"),
])
def test_bad_tensors_are_a_400_with_a_message(caller, registered, spec, fragment):
    response = caller.post("/v2/models/churn/infer", {"inputs": [{"name": "input", **spec}]})
    assert response.status_code == 400, response.content
    assert fragment in response.json()["error"]


def test_binary_size_mismatch_is_a_400(caller, registered):
    head = json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4],
                                   "parameters": {"binary_data_size": 16}}]}).encode()
    response = caller.call("post", "/v2/models/churn/infer", head + b"\x00" * 8,
                           HTTP_INFERENCE_HEADER_CONTENT_LENGTH=str(len(head)))
    assert response.status_code == 400 and "binary_data_size" in response.json()["error"]


def test_unknown_model_is_a_404(caller, three_regions):
    response = caller.post("/v2/models/nope/infer", {"inputs": []})
    assert response.status_code == 404 and "not found" in response.json()["error"]


@pytest.mark.parametrize("path", ["/v2/models/no.such.model", "/v2/models/%C3%A9t%C3%A9", "/v2/models/a.b/ready",
                                  "/v2/models/a.b/infer", "/v2/nothing/here", "/v2/", "/v2/models/a.b/versions/1%0A"])
def test_any_other_v2_path_answers_the_protocols_404_body(caller, path):
    """Model names no route takes (a dot, non-ASCII) got Django's plain-text page."""
    for method in ("get", "post"):
        response = getattr(caller, method)(path)
        assert response.status_code == 404 and response.headers["Content-Type"] == "application/json"
        assert set(response.json()) == {"error"}, response.content
    assert "no.such.model" in caller.get("/v2/models/no.such.model").json()["error"]
    assert caller.get("/v2/models/nope").json() == {"error": "Model 'nope' not found."}


@pytest.mark.parametrize("spec, extra", [
    ({"shape": [10**30, 4]}, {}), ({"shape": [2**40, 2**40]}, {}), ({"parameters": []}, {}),
    ({}, {"parameters": "x"}), ({}, {"outputs": [{"parameters": [1]}]}), ({}, {"outputs": "x"}),
])
def test_a_malformed_infer_request_is_400(caller, registered, spec, extra):
    tensor = {"name": "input", "datatype": "FP32", "shape": [1, 4], "data": [0.1, 0.2, 0.3, 0.4], **spec}
    response = caller.post("/v2/models/churn/infer", {"inputs": [tensor], **extra})
    assert response.status_code == 400 and set(response.json()) == {"error"}, response.content
