"""Replication across three region stores: verified digests; corruption detected, retried, never complete."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from .faulty_fs import corrupt_next_writes

pytestmark = pytest.mark.django_db


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def replicate(caller, eager, **extra):
    body = {"model_id": "churn", "source_region": "us-east-1", "target_regions": ["eu-west-1", "ap-southeast-1"],
            "verify_checksum": True, **extra}
    with eager(execute=True):
        response = caller.post("/api/v1/replication/models", body)
    assert response.status_code == 202, response.content
    started = response.json()["data"]
    assert started["target_regions"] == sorted(body["target_regions"]) and started["estimated_completion"]
    return caller.get(f"/api/v1/replication/{started['replication_id']}/status").json()["data"]


def test_replicates_to_every_target_with_verified_digests(caller, registered, eager, tmp_path):
    status = replicate(caller, eager)
    assert status["status"] == "completed"
    for result in status["results"]:
        assert result["status"] == "completed" and result["attempts"] == 1
        assert result["bytes_transferred"] == registered.size_bytes and result["duration_seconds"] > 0
        stored = tmp_path / result["region"] / registered.artifact_key
        assert sha256(stored) == registered.sha256 == result["sha256"]
    sync = caller.get("/api/v1/replication/sync-status?model_id=churn").json()["data"]
    assert sync["in_sync"] and {r["region"] for r in sync["replicas"]} == {"us-east-1", "eu-west-1", "ap-southeast-1"}


def test_each_region_then_serves_the_same_answer(caller, registered, eager):
    replicate(caller, eager)
    from regions.services.serving import predict

    answers = {region: predict(model_name="churn", inputs=[[1, 2, 3, 4]], routed_to=region)
               for region in ("us-east-1", "eu-west-1", "ap-southeast-1")}
    assert {a["region"] for a in answers.values()} == set(answers)
    assert len({tuple(a["predictions"]) for a in answers.values()}) == 1


@pytest.fixture
def flaky_target(three_regions, tmp_path):
    """eu-west-1's store corrupts the files written to it while its budget lasts."""
    from regions.services.regions import region_update

    region_update(name="eu-west-1", store_url=f"flaky://{tmp_path / 'eu-west-1'}")
    return tmp_path / "eu-west-1"


def test_a_corrupted_transfer_is_detected_and_retried(caller, registered, flaky_target, eager, settings):
    corrupt_next_writes(flaky_target, 1)
    status = replicate(caller, eager, target_regions=["eu-west-1"])
    result = status["results"][0]
    assert (result["status"], result["attempts"]) == ("completed", 2)
    assert sha256(flaky_target / registered.artifact_key) == registered.sha256
    from fedplane.events.models import Event

    assert Event.objects.filter(type="replication.retrying", data__region="eu-west-1").count() == 1


def test_a_transfer_that_stays_corrupted_is_never_complete(caller, registered, flaky_target, eager, settings):
    corrupt_next_writes(flaky_target, 100)
    status = replicate(caller, eager, target_regions=["eu-west-1"])
    result = status["results"][0]
    assert result["status"] == "failed" and status["status"] == "failed"
    assert result["attempts"] == settings.REGIONS_REPLICATION_MAX_RETRIES + 1
    assert "sha256 mismatch" in result["error"]
    assert not (flaky_target / registered.artifact_key).exists()  # the corrupt bytes were never committed
    from regions.models import Replica

    assert Replica.objects.get(region__name="eu-west-1").status == "failed"
    response = caller.post("/api/v1/models/churn/predict", {"inputs": [[1, 2, 3, 4]]},
                           HTTP_X_FEDPLANE_ROUTED="eu-west-1")
    assert response.status_code == 503  # the region holds no verified replica: it does not serve


def test_unknown_region_and_missing_source(caller, registered):
    response = caller.post("/api/v1/replication/models", {"model_id": "churn", "source_region": "us-east-1",
                                                           "target_regions": ["mars-1"]})
    assert response.status_code == 404 and response.json()["error"]["code"] == "REGION_NOT_FOUND"
    response = caller.post("/api/v1/replication/models", {"model_id": "churn", "source_region": "eu-west-1",
                                                           "target_regions": ["ap-southeast-1"]})
    assert response.status_code == 409 and response.json()["error"]["code"] == "ARTIFACT_NOT_AVAILABLE"


def test_rollback_removes_the_replicas(caller, registered, eager, tmp_path):
    status = replicate(caller, eager)
    response = caller.post(f"/api/v1/replication/{status['replication_id']}/rollback")
    assert response.status_code == 200 and response.json()["data"]["status"] == "rolled_back"
    assert not (tmp_path / "eu-west-1" / registered.artifact_key).exists()
    assert (tmp_path / "us-east-1" / registered.artifact_key).exists()


@pytest.mark.django_db(transaction=True)
def test_targets_finishing_at_the_same_moment_complete_the_job(registered):
    """Two workers commit their targets together: one of them must still see both done."""
    import threading

    from django.db import connection, connections, transaction

    from regions.models import Region, ReplicationJob, ReplicationTarget
    from regions.services import replication, transitions

    if connection.vendor == "sqlite":
        pytest.skip("SQLite runs one writer at a time; the race needs concurrent transactions")
    job = ReplicationJob.objects.create(version=registered, source_region=registered.home_region)
    targets = [ReplicationTarget.objects.create(job=job, region=region, status="in_progress")
               for region in Region.objects.exclude(pk=registered.home_region_id)]
    both_written = threading.Barrier(len(targets), timeout=20)
    errors: list[BaseException] = []

    def finish(target_id: int) -> None:
        try:
            with transaction.atomic():
                target = ReplicationTarget.objects.select_related("job").get(pk=target_id)
                transitions.move("replication_target", target, "completed")
                both_written.wait()  # each has written its own row; neither has committed
                replication._finish_job(target.job)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()
    threads = [threading.Thread(target=finish, args=(t.pk,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    job.refresh_from_db()
    assert job.status == "completed" and job.completed_at is not None


@pytest.mark.parametrize("targets", [["us-east-1"], ["eu-west-1", "us-east-1"]])
def test_a_target_that_is_the_source_is_422_and_nothing_starts(caller, registered, eager, targets):
    """It used to be dropped silently: a job with no target left "completed" having copied nothing."""
    from regions.models import Replica, ReplicationJob

    replicas = list(Replica.objects.values_list("region__name", "status"))
    with eager(execute=True):
        response = caller.post("/api/v1/replication/models", {"model_id": "churn", "source_region": "us-east-1",
                                                               "target_regions": targets})
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and "target_regions" in error["details"]
    assert not ReplicationJob.objects.exists()
    assert list(Replica.objects.values_list("region__name", "status")) == replicas
