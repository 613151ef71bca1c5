"""Replication to and from an S3-compatible store over real HTTP (moto's server on loopback):
multipart uploads the store checks part by part, a resumed upload, and the failures a team
meets first (credentials, a bucket that is not there, a full disk) reported, never complete."""
from __future__ import annotations

import base64
import hashlib
import os
import subprocess

import pytest

from .faulty_fs import break_reads_after
from .s3_server import MIN_PART_BYTES

pytestmark = pytest.mark.django_db

SIZE = 8 * MIN_PART_BYTES + 1000  # nine parts, the last one short


def put_bytes(client, caller, path: str, content: bytes):
    return client.put(path, data=content, content_type="application/octet-stream", **caller.headers)


def s3_key(prefix: str, key: str) -> str:
    return f"{prefix.split('/', 3)[3]}/{key}"


@pytest.fixture
def blob(registered):
    """Version 2.0.0 of `churn`: SIZE random bytes in us-east-1 (never loaded, only copied)."""
    from regions.services.registry import version_create

    return version_create(model_name="churn", version="2.0.0", fmt="torchscript", region_name="us-east-1",
                          input_schema={"shape": [-1, 4], "dtype": "float32"}, content=os.urandom(SIZE))


@pytest.fixture
def s3_region(three_regions, s3_prefix):
    """eu-west-1 keeps its artifacts in S3."""
    from regions.services.regions import region_update

    region_update(name="eu-west-1", store_url=s3_prefix)
    return s3_prefix


def replicate(caller, eager, source: str, targets: list[str], version: str = "2.0.0") -> dict:
    with eager(execute=True):
        response = caller.post("/api/v1/replication/models", {"model_id": "churn", "version": version,
                                                               "source_region": source, "target_regions": targets})
    assert response.status_code == 202, response.content
    return caller.get(f"/api/v1/replication/{response.json()['data']['replication_id']}/status").json()["data"]


def test_to_s3_in_checked_parts_and_back(caller, blob, s3_region, s3_server, eager, tmp_path):
    status = replicate(caller, eager, "us-east-1", ["eu-west-1"])
    result = status["results"][0]
    assert (status["status"], result["status"], result["attempts"]) == ("completed", "completed", 1), status
    assert (result["bytes_transferred"], result["parts"], result["resumed_bytes"]) == (SIZE, 9, 0)
    key = s3_key(s3_region, blob.artifact_key)
    head = s3_server.client().head_object(Bucket=s3_server.bucket, Key=key, ChecksumMode="ENABLED")
    content = s3_server.client().get_object(Bucket=s3_server.bucket, Key=key)["Body"].read()
    assert hashlib.sha256(content).hexdigest() == blob.sha256
    # The store's own checksum of what it holds: SHA-256 of the nine parts' SHA-256 digests.
    parts = [content[i:i + MIN_PART_BYTES] for i in range(0, SIZE, MIN_PART_BYTES)]
    composite = hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts)).digest()
    assert head["ChecksumSHA256"].split("-")[0] == base64.b64encode(composite).decode()
    assert not s3_server.client().list_multipart_uploads(Bucket=s3_server.bucket).get("Uploads")

    back = replicate(caller, eager, "eu-west-1", ["ap-southeast-1"])
    assert back["results"][0]["status"] == "completed", back
    landed = (tmp_path / "ap-southeast-1" / blob.artifact_key).read_bytes()
    assert hashlib.sha256(landed).hexdigest() == blob.sha256


def test_a_region_serves_from_its_s3_store(caller, registered, s3_region, eager):
    assert replicate(caller, eager, "us-east-1", ["eu-west-1"], version="1.0.0")["status"] == "completed"
    response = caller.post("/api/v1/models/churn/predict", {"inputs": [[1, 2, 3, 4]]},
                           HTTP_X_FEDPLANE_ROUTED="eu-west-1")
    assert response.status_code == 200, response.content
    assert response.json()["data"]["region"] == "eu-west-1"


def test_an_interrupted_upload_resumes_from_the_parts_that_landed(blob, s3_region, s3_server, tmp_path):
    from regions.models import Region, Replica, ReplicationJob, ReplicationTarget
    from regions.services.regions import region_update
    from regions.services.replication import TransientReplicationError, replicate_target

    # The source's connection breaks in the fifth part: four parts land before it.
    region_update(name="us-east-1", store_url=f"flaky://{tmp_path / 'us-east-1'}")
    break_reads_after(tmp_path / "us-east-1", 4 * MIN_PART_BYTES + 100)
    job = ReplicationJob.objects.create(version=blob, source_region=blob.home_region)
    target = ReplicationTarget.objects.create(job=job, region=Region.objects.get(name="eu-west-1"))
    Replica.objects.create(version=blob, region=target.region)
    with pytest.raises(TransientReplicationError, match="connection reset"):
        replicate_target(target.pk, final_attempt=False)
    target.refresh_from_db()
    assert target.status == "in_progress" and "connection reset" in target.error
    recorded = target.transfer_state
    assert sorted(recorded["parts"], key=int) == ["1", "2", "3", "4"]
    listed = s3_server.client().list_parts(Bucket=s3_server.bucket, Key=s3_key(s3_region, blob.artifact_key),
                                           UploadId=recorded["uploadId"])
    assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2, 3, 4]
    assert not s3_server.client().list_objects_v2(Bucket=s3_server.bucket, Prefix=s3_key(s3_region, "")).get(
        "Contents")  # nothing visible yet: an incomplete upload is no object

    break_reads_after(tmp_path / "us-east-1", None)
    assert replicate_target(target.pk, final_attempt=False) == "completed"
    target.refresh_from_db()
    assert (target.resumed_bytes, target.bytes_transferred, target.attempts) == (4 * MIN_PART_BYTES, SIZE, 2)
    assert target.parts_landed == 9 and "uploadId" not in target.transfer_state
    content = s3_server.client().get_object(Bucket=s3_server.bucket,
                                            Key=s3_key(s3_region, blob.artifact_key))["Body"].read()
    assert hashlib.sha256(content).hexdigest() == blob.sha256
    assert Replica.objects.get(version=blob, region__name="eu-west-1").status == "completed"


@pytest.fixture
def checksumless_store(monkeypatch):
    """An S3-compatible store that keeps no checksums (it answers none), and when `corrupt` is set
    stores part 2 with one byte changed: what only a read-back can catch."""
    import s3fs

    behaviour = {"corrupt": False}
    call = s3fs.S3FileSystem.call_s3  # what fedplane's S3 uploads call

    def without_checksums(self, method, *args, **kwargs):
        if behaviour["corrupt"] and method == "upload_part" and kwargs.get("PartNumber") == 2:
            body = bytearray(kwargs["Body"])
            body[0] ^= 0xFF
            kwargs = {**kwargs, "Body": bytes(body)}
        answer = call(self, method, *args, **kwargs)
        return {k: v for k, v in answer.items() if not k.startswith("Checksum")} if isinstance(answer, dict) else answer

    monkeypatch.setattr(s3fs.S3FileSystem, "call_s3", without_checksums)
    return behaviour


def test_a_store_without_checksums_is_verified_by_reading_back(blob, s3_region, s3_server, checksumless_store):
    from regions.models import Region, Replica, ReplicationJob, ReplicationTarget
    from regions.services.replication import replicate_target

    def replicate_once() -> ReplicationTarget:
        job = ReplicationJob.objects.create(version=blob, source_region=blob.home_region)
        target = ReplicationTarget.objects.create(job=job, region=Region.objects.get(name="eu-west-1"))
        Replica.objects.get_or_create(version=blob, region=target.region)
        try:
            replicate_target(target.pk, final_attempt=True)
        except Exception:  # noqa: BLE001 - the target's record says what happened
            pass
        target.refresh_from_db()
        return target

    key = s3_key(s3_region, blob.artifact_key)
    checksumless_store["corrupt"] = True
    corrupted = replicate_once()
    assert corrupted.status == "failed" and "checksum" in corrupted.error, (corrupted.status, corrupted.error)
    assert not s3_server.client().list_objects_v2(Bucket=s3_server.bucket, Prefix=key).get("Contents")

    checksumless_store["corrupt"] = False
    assert replicate_once().status == "completed"
    content = s3_server.client().get_object(Bucket=s3_server.bucket, Key=key)["Body"].read()
    assert hashlib.sha256(content).hexdigest() == blob.sha256


def test_refused_credentials_fail_at_once_and_say_so(client, caller, blob, s3_region, s3_server, eager, settings):
    settings.REGIONS_S3_SECRET_ACCESS_KEY = "not-the-secret"
    status = replicate(caller, eager, "us-east-1", ["eu-west-1"])
    result = status["results"][0]
    assert (status["status"], result["status"], result["attempts"]) == ("failed", "failed", 1)
    assert "refused the credentials" in result["error"] and "SignatureDoesNotMatch" in result["error"]
    from regions.models import Replica

    assert Replica.objects.get(version=blob, region__name="eu-west-1").status == "failed"
    assert not s3_server.client().list_objects_v2(Bucket=s3_server.bucket, Prefix=s3_key(s3_region, "")).get(
        "Contents")
    # An API call that writes there answers the error envelope (503), not a 500.
    caller.post("/api/v1/models/churn/versions", {"version": "3.0.0", "format": "torchscript", "region": "eu-west-1",
                                                  "input_schema": {"shape": [-1, 4], "dtype": "float32"}})
    response = put_bytes(client, caller, "/api/v1/models/churn/versions/3.0.0/artifact", b"\0" * 1000)
    assert response.status_code == 503, response.content
    error = response.json()["error"]
    assert error["code"] == "STORE_UNAVAILABLE" and error["details"]["reason"] == "credentials"


def test_a_missing_bucket_fails_at_once_and_is_not_created(caller, blob, s3_prefix, s3_server, eager):
    from regions.services.regions import region_update

    region_update(name="eu-west-1", store_url="s3://no-such-bucket/models")
    status = replicate(caller, eager, "us-east-1", ["eu-west-1"])
    result = status["results"][0]
    assert (result["status"], result["attempts"]) == ("failed", 1)
    assert "no bucket 'no-such-bucket'" in result["error"]
    buckets = [b["Name"] for b in s3_server.client().list_buckets()["Buckets"]]
    assert "no-such-bucket" not in buckets


@pytest.fixture
def full_disk(tmp_path):
    """A 256 KiB tmpfs (real ENOSPC from the kernel); skipped where mounting is not allowed."""
    mount = tmp_path / "full"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_is_reported_and_leaves_nothing(client, caller, blob, full_disk, eager, settings):
    from regions.models import Replica
    from regions.services.regions import region_update

    region_update(name="eu-west-1", store_url=full_disk.as_uri())
    status = replicate(caller, eager, "us-east-1", ["eu-west-1"])
    result = status["results"][0]
    # Retried (space may be freed meanwhile), then failed.
    assert (result["status"], result["attempts"]) == ("failed", settings.REGIONS_REPLICATION_MAX_RETRIES + 1)
    assert "No space left" in result["error"]
    assert Replica.objects.get(version=blob, region__name="eu-west-1").status == "failed"
    assert not list(full_disk.rglob("*.part-*")) and not (full_disk / blob.artifact_key).exists()
    # Uploading into a full home store answers 507 STORE_FULL, and the version keeps no artifact.
    caller.post("/api/v1/models/churn/versions", {"version": "3.0.0", "format": "torchscript", "region": "eu-west-1",
                                                  "input_schema": {"shape": [-1, 4], "dtype": "float32"}})
    response = put_bytes(client, caller, "/api/v1/models/churn/versions/3.0.0/artifact", os.urandom(SIZE))
    assert response.status_code == 507, response.content
    assert response.json()["error"]["code"] == "STORE_FULL"
    assert caller.get("/api/v1/models/churn/versions/3.0.0").json()["data"]["sha256"] == ""
