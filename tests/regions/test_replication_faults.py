"""A regional worker process killed in the middle of a replica's copy: the copy is retried, and the
replica is complete only with the version's digest. Real processes: a server and a Celery worker
of their own (their own broker: the suite's workers take none of this test's tasks)."""
from __future__ import annotations

import hashlib

import httpx
import psutil
import pytest

from tests.support.processes import start_server, start_worker, wait_until

from .conftest import ALL_SCOPES, mlp_module, torchscript_bytes
from .faulty_fs import corrupt_next_writes, slow_writes

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]


def _own_broker(env: dict[str, str], var_dir) -> dict[str, str]:
    """A Redis database no other test uses, or (embedded) a filesystem broker under its own var dir."""
    if env.get("CELERY_BROKER_URL", "").startswith("redis"):
        return {**env, "CELERY_BROKER_URL": env["CELERY_BROKER_URL"].rsplit("/", 1)[0] + "/12"}
    return {**env, "FEDPLANE_VAR_DIR": str(var_dir)}


def test_a_worker_process_killed_mid_copy_is_retried_and_never_complete_with_a_wrong_digest(
        live_env, live_logs, make_key, tmp_path):
    # Chunks of 256 bytes, each written after a pause: the copy takes seconds, time to kill it midway.
    env = {**_own_broker(live_env, tmp_path / "var"), "REGIONS_REPLICATION_CHUNK_BYTES": "256"}
    server, base = start_server(env, live_logs, "replication-faults-web")
    worker = start_worker(env, live_logs, "replication-faults-worker", concurrency=1)
    key, _ = make_key(ALL_SCOPES)
    api = httpx.Client(base_url=f"{base}/api/v1", headers={"X-API-Key": key}, timeout=30)
    source, target = tmp_path / "us-east-1", tmp_path / "eu-west-1"
    try:
        for name, url in (("us-east-1", source.as_uri()), ("eu-west-1", f"flaky://{target}")):
            assert api.post("/regions", json={"name": name, "store_url": url}).status_code == 201
        assert api.post("/models", json={"model_id": "churn"}).status_code == 201
        assert api.post("/models/churn/versions", json={"version": "1.0.0", "format": "torchscript",
                                                         "region": "us-east-1", "input_schema": {"shape": [-1, 4], "dtype": "float32"}}).status_code == 201
        uploaded = api.put("/models/churn/versions/1.0.0/artifact", content=torchscript_bytes(mlp_module()),
                           headers={"Content-Type": "application/octet-stream"}).json()["data"]
        slow_writes(target, 0.2)
        started = api.post("/replication/models", json={"model_id": "churn", "source_region": "us-east-1",
                                                         "target_regions": ["eu-west-1"]})
        assert started.status_code == 202, started.text
        replication_id = started.json()["data"]["replication_id"]

        def copying() -> psutil.Process | None:
            partial = [p for p in target.rglob("*.part-*") if p.stat().st_size > 0]
            pool = psutil.Process(worker.proc.pid).children()
            return pool[0] if partial and pool else None

        copier = wait_until(copying, timeout=90, interval=0.05, message="a copy half written")
        # The next write that lands is corrupted: the retry after the kill must not complete with it.
        corrupt_next_writes(target, 1)
        slow_writes(target, 0)
        copier.kill()  # the pool process copying the replica; Celery requeues its task (reject_on_worker_lost)
        seen: set[str] = set()

        def finished() -> dict | None:
            status = api.get(f"/replication/{replication_id}/status").json()["data"]
            seen.add(status["results"][0]["status"])
            return status if status["status"] != "in_progress" else None

        status = wait_until(finished, timeout=120, interval=0.1, message="replication finished")
        result = status["results"][0]
        assert (status["status"], result["status"]) == ("completed", "completed"), (status, worker.log_tail(60))
        assert result["attempts"] == 3 and result["sha256"] == uploaded["sha256"]  # killed, corrupted, verified
        assert "failed" not in seen
        landed = (target / uploaded["artifact_key"]).read_bytes()
        assert hashlib.sha256(landed).hexdigest() == uploaded["sha256"]
        retrying = api.get("/integration/events", params={"type": "replication.retrying"}).json()["data"]
        assert any("sha256 mismatch" in e["data"]["error"] for e in retrying
                   if str(e["data"]["replicationId"]) == str(replication_id))
        sync = api.get("/replication/sync-status", params={"model_id": "churn"}).json()["data"]
        assert sync["in_sync"], sync
    finally:
        api.close()
        worker.stop()
        server.stop()
