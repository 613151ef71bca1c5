"""Predict in the seed's format: answers equal the model called directly; bad input is a 400."""
from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.django_db


def direct(mlp, rows) -> list[float]:
    with torch.no_grad():
        return mlp(torch.tensor(rows, dtype=torch.float32))[:, 0].tolist()


def test_single_prediction_equals_a_direct_call(caller, registered, mlp):
    rows = [[1.0, 2.0, 3.0, 4.0]]
    response = caller.post("/api/v1/models/churn/predict", {"inputs": rows, "parameters": {"timeout_ms": 5000}})
    assert response.status_code == 200, response.content
    body = response.json()["data"]
    assert body["predictions"] == direct(mlp, rows)
    assert (body["model_id"], body["model_version"], body["region"]) == ("churn", "1.0.0", "us-east-1")
    assert body["latency_ms"] > 0


def test_batch_prediction_in_chunks_equals_a_direct_call(caller, registered, mlp):
    rows = np.random.default_rng(1).normal(size=(100, 4)).astype(np.float32).tolist()
    response = caller.post("/api/v1/models/churn/predict", {"inputs": rows, "parameters": {"batch_size": 16}})
    assert response.status_code == 200, response.content
    assert np.allclose(response.json()["data"]["predictions"], direct(mlp, rows), rtol=0, atol=1e-7)


@pytest.mark.parametrize("inputs, message", [
    ([[1.0, 2.0, 3.0]], "shape"),
    ([[1.0, 2.0], [1.0, 2.0, 3.0, 4.0]], "rectangular"),
    ([["a", "b", "c", "d"]], "rectangular"),
    ([[[1.0, 2.0, 3.0, 4.0]]], "shape"),
])
def test_bad_inputs_are_a_400_with_a_message(caller, registered, inputs, message):
    response = caller.post("/api/v1/models/churn/predict", {"inputs": inputs})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "INVALID_INPUT" and message in error["message"]


def test_unknown_model_is_model_not_found(caller, three_regions):
    response = caller.post("/api/v1/models/nope/predict", {"inputs": [[1.0]]})
    assert response.status_code == 404 and response.json()["error"]["code"] == "MODEL_NOT_FOUND"


def test_a_model_that_raises_is_prediction_failed_and_recorded(caller, three_regions):
    from regions.models import RequestMetric
    from regions.services.registry import model_create, version_create

    from .conftest import Exploding, torchscript_bytes

    model_create(name="broken")
    version_create(model_name="broken", version="1", fmt="torchscript", region_name="eu-west-1",
                   input_schema={"shape": [-1, 4]}, content=torchscript_bytes(Exploding()))
    response = caller.post("/api/v1/models/broken/predict", {"inputs": [[1, 2, 3, 4]]})
    assert response.status_code == 500 and response.json()["error"]["code"] == "PREDICTION_FAILED"
    assert "this version is broken" in response.json()["error"]["message"]
    assert RequestMetric.objects.get(model_name="broken").ok is False


def test_async_prediction_submit_poll_result(caller, registered, mlp, eager):
    with eager(execute=True):
        submitted = caller.post("/api/v1/models/churn/predict/async", {"inputs": [[0.5, 0.1, 0.2, 0.3]]})
    assert submitted.status_code == 202, submitted.content
    prediction_id = submitted.json()["data"]["prediction_id"]
    status = caller.get(f"/api/v1/predictions/{prediction_id}").json()["data"]
    assert status["status"] == "succeeded"
    result = caller.get(f"/api/v1/predictions/{prediction_id}/result").json()["data"]
    assert result["predictions"] == direct(mlp, [[0.5, 0.1, 0.2, 0.3]])


def test_timeout_ms_is_honoured(caller, registered, monkeypatch):
    import time

    from regions.services import loading

    real = loading.load_model

    def slow(version, region):
        loaded = real(version, region)
        run = loaded.run
        loaded.run = lambda batch: (time.sleep(0.5), run(batch))[1]
        return loaded
    monkeypatch.setattr("regions.services.serving.load_model", slow)
    response = caller.post("/api/v1/models/churn/predict", {"inputs": [[1, 2, 3, 4]], "parameters": {"timeout_ms": 50}})
    assert response.status_code == 504 and response.json()["error"]["code"] == "PREDICTION_TIMEOUT"


def test_a_prediction_is_metered_not_audited_while_a_registry_write_is(caller, registered):
    from fedplane.api.models import AuditEntry
    from regions.models import RequestMetric

    audited, metered = AuditEntry.objects.count(), RequestMetric.objects.count()
    assert caller.post("/api/v1/models/churn/predict", {"inputs": [[1.0, 2.0, 3.0, 4.0]]}).status_code == 200
    assert (AuditEntry.objects.count(), RequestMetric.objects.count()) == (audited, metered + 1)
    assert caller.post("/api/v1/models", {"model_id": "audited"}).status_code == 201
    assert AuditEntry.objects.filter(path="/api/v1/models", status_code=201).exists()
