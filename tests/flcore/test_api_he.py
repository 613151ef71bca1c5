"""Homomorphic encryption at the door: what it cannot honour is FL007 and stores nothing; the keys it
makes, and who gets the secret one (no processes)."""
from __future__ import annotations

import stat

import pytest

from fedplane.api.scopes import Scope
from flcore import he
from flcore.models import TrainingExecution
from tests.api.helpers import data_of, error_of

from .test_api_validation import ALL_FL, _execution, _register, fl_api, online_nodes  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db
HE = {"homomorphicEncryption": {"enabled": True}}


@pytest.fixture(autouse=True)
def key_dirs(settings, tmp_path):
    settings.FLCORE_HE_KEY_DIR = tmp_path / "he-keys"
    settings.FEDPLANE_ARTIFACT_ROOT = tmp_path / "artifacts"
    return settings


@pytest.mark.parametrize("patch, needle", [
    ({"privacyConfig": {**HE, "differential_privacy": True, "epsilon": 5.0, "delta": 1e-5}}, "differential_privacy"),
    ({"privacyConfig": {**HE, "secure_aggregation": True}}, "secure_aggregation"),
    ({"privacyConfig": HE, "algorithm": "fedmedian"}, "fedavg or fedprox"),
    ({"privacyConfig": HE, "runtime": "simulation"}, "runtime deployment"),
    ({"privacyConfig": {"homomorphicEncryption": {"enabled": True, "polyModulusDegree": 4096}}}, "polyModulusDegree"),
    ({"privacyConfig": {"homomorphicEncryption": {"enabled": True, "coeffModBitSizes": [60, 60, 60, 60]}}}, "218"),
    ({"privacyConfig": {"homomorphicEncryption": {"enabled": True, "coeffModBitSizes": [60, 40]}}}, "coeffModBitSizes"),
    ({"privacyConfig": {"homomorphicEncryption": {"enabled": True, "globalScaleBits": 61}}}, "globalScaleBits"),
    ({"privacyConfig": {"homomorphicEncryption": {"enabled": True, "bits": 1}}}, "bits"),
])
def test_encryption_it_cannot_honour_is_fl007_and_stores_nothing(fl_api, key_dirs, patch, needle):
    _register(fl_api, 3)
    body = _execution(**patch)
    if patch.get("runtime") == "simulation":
        body["config"]["numSupernodes"] = 3
    response = fl_api.post("/api/v1/fl/executions", body)
    error = error_of(response, 422, "FL007")
    assert needle in str(error), error
    assert TrainingExecution.objects.count() == 0
    assert not (key_dirs.FLCORE_HE_KEY_DIR).exists()


def test_keys_are_made_at_creation_and_the_secret_one_goes_to_assigned_clients_only(fl_api, api, make_key,
                                                                                      key_dirs):
    clients = _register(fl_api, 2)
    created = data_of(fl_api.post("/api/v1/fl/executions", _execution(clients=clients, privacyConfig=HE)), 202)
    execution_id = created["data"]["id"]
    stored = TrainingExecution.objects.get(pk=execution_id).privacy_config["homomorphicEncryption"]
    assert stored == {"enabled": True, "polyModulusDegree": 8192, "coeffModBitSizes": [60, 40, 40, 60],
                      "globalScaleBits": 40}
    secret_file = key_dirs.FLCORE_HE_KEY_DIR / f"{execution_id}.tenseal"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    public = (key_dirs.FEDPLANE_ARTIFACT_ROOT / "he" / f"{execution_id}.public.tenseal").read_bytes()
    assert not he.load_context(public).is_private()  # what the worker reads cannot decrypt

    response = fl_api.get(f"/api/v1/fl/executions/{execution_id}/he-context")
    assert response.status_code == 200 and response["Content-Type"] == "application/octet-stream"
    assert response.content == secret_file.read_bytes() and he.load_context(response.content).is_private()

    plain = data_of(fl_api.post("/api/v1/fl/executions", _execution(clients=clients)), 202)["data"]["id"]
    error_of(fl_api.get(f"/api/v1/fl/executions/{plain}/he-context"), 404, "NOT_FOUND")
    # (api.auth re-keys the one test client that fl_api is too)
    stranger, _ = make_key([Scope.FL_CLIENTS_MANAGE])  # another account: none of its clients is assigned
    error_of(api.auth(stranger).get(f"/api/v1/fl/executions/{execution_id}/he-context"), 404, "NOT_FOUND")
    viewer, _ = make_key([Scope.FL_METRICS_VIEW])
    error_of(api.auth(viewer).get(f"/api/v1/fl/executions/{execution_id}/he-context"), 403)


def test_an_encrypted_execution_cannot_switch_to_a_robust_strategy(fl_api):
    clients = _register(fl_api, 3)
    execution_id = data_of(fl_api.post("/api/v1/fl/executions", _execution(clients=clients, privacyConfig=HE)),
                           202)["data"]["id"]
    response = fl_api.post(f"/api/v1/fl/aggregation/{execution_id}/configure", {"strategy": "fedmedian"})
    assert "homomorphic encryption" in error_of(response, 422, "FL007")["message"]
