"""Deployments: a canary that raises on predict is rolled back; a healthy one is promoted."""
from __future__ import annotations

import pytest

from .conftest import Exploding, mlp_module, torchscript_bytes

pytestmark = pytest.mark.django_db
REGIONS = ["us-east-1", "eu-west-1"]


@pytest.fixture
def stable(registered, caller, eager):
    """churn 1.0.0 replicated to both regions and deployed there."""
    with eager(execute=True):
        caller.post("/api/v1/replication/models", {"model_id": "churn", "source_region": "us-east-1",
                                                   "target_regions": ["eu-west-1"]})
    return deploy(caller, eager, "1.0.0", "rolling")


def add_version(caller, eager, version: str, content: bytes):
    from regions.services.registry import version_create

    version_create(model_name="churn", version=version, fmt="torchscript", region_name="us-east-1",
                   input_schema={"shape": [-1, 4], "dtype": "float32"}, content=content)
    with eager(execute=True):
        caller.post("/api/v1/replication/models", {"model_id": "churn", "version": version,
                                                   "source_region": "us-east-1", "target_regions": ["eu-west-1"]})


def deploy(caller, eager, version: str, strategy: str, **extra) -> dict:
    body = {"model_id": "churn", "version": version, "strategy": strategy, "regions": REGIONS,
            "rollback_on_failure": True, "validation_period_seconds": 0.3, "canary_percent": 50, **extra}
    with eager(execute=True):
        response = caller.post("/api/v1/deployments", body)
    assert response.status_code == 202, response.content
    return caller.get(f"/api/v1/deployments/{response.json()['data']['deployment_id']}").json()["data"]


def served(region: str) -> str:
    from regions.services.serving import predict

    return predict(model_name="churn", inputs=[[1, 2, 3, 4]], routed_to=region)["model_version"]


def test_a_canary_that_raises_is_rolled_back(caller, stable, eager):
    add_version(caller, eager, "2.0.0-bad", torchscript_bytes(Exploding()))
    status = deploy(caller, eager, "2.0.0-bad", "canary")
    assert status["status"] == "rolled_back"
    assert status["failed_regions"] == REGIONS and status["deployed_regions"] == []
    assert all(r["observed"]["error_rate"] == 1.0 for r in status["regions"])
    assert [served(r) for r in REGIONS] == ["1.0.0", "1.0.0"]
    from regions.models import Serving

    assert not Serving.objects.filter(canary_version__isnull=False).exists()
    from fedplane.events.models import Event

    assert Event.objects.filter(type="deployment.rolled_back", data__deploymentId=status["deployment_id"]).exists()


def test_a_healthy_canary_is_promoted(caller, stable, eager):
    add_version(caller, eager, "2.0.0", torchscript_bytes(mlp_module(seed=3)))
    status = deploy(caller, eager, "2.0.0", "canary")
    assert status["status"] == "completed" and status["deployed_regions"] == REGIONS
    assert all(r["observed"]["requests"] >= 1 and r["observed"]["error_rate"] == 0 for r in status["regions"])
    assert [served(r) for r in REGIONS] == ["2.0.0", "2.0.0"]


def test_rolling_stops_at_the_first_failing_region_and_rolls_back(caller, stable, eager):
    add_version(caller, eager, "3.0.0-bad", torchscript_bytes(Exploding()))
    status = deploy(caller, eager, "3.0.0-bad", "rolling")
    assert status["status"] == "rolled_back" and status["failed_regions"] == ["us-east-1"]
    assert [r["status"] for r in status["regions"]] == ["failed", "pending"]
    assert [served(r) for r in REGIONS] == ["1.0.0", "1.0.0"]


def test_blue_green_switches_every_region_at_once(caller, stable, eager):
    add_version(caller, eager, "4.0.0", torchscript_bytes(mlp_module(seed=4)))
    status = deploy(caller, eager, "4.0.0", "blue_green")
    assert status["status"] == "completed"
    assert [served(r) for r in REGIONS] == ["4.0.0", "4.0.0"]
    rollback = caller.post(f"/api/v1/deployments/{status['deployment_id']}/rollback")
    assert rollback.status_code == 200 and rollback.json()["data"]["status"] == "rolled_back"
    assert [served(r) for r in REGIONS] == ["1.0.0", "1.0.0"]


def test_deploying_a_version_that_is_not_replicated_is_refused(caller, stable):
    from regions.services.registry import version_create

    version_create(model_name="churn", version="5.0.0", fmt="torchscript", region_name="us-east-1",
                   input_schema={"shape": [-1, 4]}, content=torchscript_bytes(mlp_module(seed=5)))
    response = caller.post("/api/v1/deployments", {"model_id": "churn", "version": "5.0.0", "regions": REGIONS})
    assert response.status_code == 409 and response.json()["error"]["details"]["regions"] == ["eu-west-1"]
