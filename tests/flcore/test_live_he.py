"""A homomorphic-encryption training through the whole platform: REST API, Celery worker, SuperLink
and `fedplane-client join` processes whose numpy ClientApps fetch the secret context from the API."""
from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import load

from flcore import he
from flcore.runtime import numpy_app
from flcore.runtime.model import initial_arrays

from .conftest import start_execution, wait_for_status

pytestmark = [pytest.mark.live, pytest.mark.flower, pytest.mark.django_db(transaction=True),
              pytest.mark.timeout(300)]
SPEC = {"input-dim": 64, "num-classes": 10, "hidden-dim": 64, "seed": 0}


def test_an_encrypted_training_completes_with_metrics_and_no_plaintext_model_on_the_server(
        fl_http, fl_worker, join_clients, digits):
    paths, test_path = digits
    clients = join_clients(paths[:2], client_app="flcore.runtime.he_app:app")
    execution = start_execution(fl_http, clients, rounds=2, privacyConfig={"homomorphicEncryption": {"enabled": True}})
    final = wait_for_status(fl_http, execution["id"], timeout=240)
    assert final["status"] == "completed" and final["currentRound"] == 2, final
    assert {"loss", "accuracy", "train_loss"} <= set(final["metrics"]), final["metrics"]  # clients still report

    secret = fl_http.get(f"/fl/executions/{execution['id']}/he-context")  # as the clients fetched it
    assert secret.status_code == 200
    context = he.load_context(secret.content)
    layout = he.Layout.of({k: a.numpy() for k, a in initial_arrays(SPEC).items()}, he.HEParams().slots)
    rounds = fl_http.get(f"/fl/executions/{execution['id']}/rounds").json()["data"]
    assert [r["roundNumber"] for r in rounds] == [1, 2]
    for round_ in rounds:
        assert {"eval-loss", "eval-accuracy"} <= set(round_["metrics"]["evaluate"]), round_["metrics"]
        model = round_["aggregatedModel"]
        assert model["metadata"]["encrypted"] == "ckks"
        assert set(model["metadata"]["tensors"]) == set(layout.chunk_names())  # ciphertext chunks only
        assert all(t["dtype"] == "uint8" for t in model["metadata"]["tensors"].values())
        stored = load(fl_http.get(f"/fl/executions/{execution['id']}/rounds/{round_['roundNumber']}/checkpoint")
                      .content)
        assert set(stored) == set(layout.chunk_names())

    # The key holders can read the last checkpoint, and it learnt something (10 classes: chance is 0.1).
    weights = he.decrypt(context, stored, layout)
    with np.load(test_path) as test:
        _, accuracy = numpy_app.evaluate(weights, test["x"].astype(np.float32), test["y"])
    assert accuracy > 0.3, accuracy

    # The checkpoint is ciphertext, and a resume starts from it: round 2 runs again from round 1's.
    resumed = fl_http.post(f"/fl/executions/{execution['id']}/resume", json={"fromRound": 1})
    assert resumed.status_code == 202, resumed.text
    again = wait_for_status(fl_http, execution["id"], timeout=240)
    assert again["status"] == "completed" and again["currentRound"] == 2, again
    redone = fl_http.get(f"/fl/executions/{execution['id']}/rounds/2").json()["data"]["aggregatedModel"]
    assert redone["sha256"] != rounds[-1]["aggregatedModel"]["sha256"]  # a fresh encryption of a new aggregate

    download = fl_http.get(f"/fl/aggregation/{execution['id']}/model", params={"format": "pytorch"})
    assert download.status_code == 409 and download.json()["error"]["code"] == "MODEL_ENCRYPTED", download.text
    promote = fl_http.post("/models/fl-he/versions/promote", json={
        "version": "r2", "aggregated_model_id": rounds[-1]["aggregatedModel"]["id"], "region": "us-east-1"})
    assert promote.status_code == 409 and promote.json()["error"]["code"] == "MODEL_ENCRYPTED", promote.text
