"""Replication of a version's artifact from a source store to target stores.

A job has one target per region; each target is copied by its own Celery task
(`regions.replicate_target`), which copies the artifact (the store picks how:
`regions/stores/`), takes the digest of what landed (read back, or checked by the store
itself on S3), and commits it only when that sha256 equals the version's. A mismatch or an
I/O error is transient: the task retries with backoff and the target stays `in_progress`;
after the last retry it is `failed`. An error that no retry can cure (credentials refused,
no such bucket, a store outside the allowed roots) fails the target at once. A target is
never `completed` with a digest that differs.

A multipart upload records each part that lands on the target's row (`transfer_state`); a
retry, in this worker or another, resumes it and sends only the parts the store lacks.
"""
from __future__ import annotations

import time
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from fedplane.api.errors import DomainError, ErrorCode
from fedplane.events.services import emit

from ..choices import ReplicaStatus, ReplicationStatus
from ..errors import ArtifactMissing, InvalidTransition, ReplicationNotFound, StoreNotAllowed
from ..models import Replica, ReplicationJob, ReplicationTarget, UsageRecord
from ..stores import StoreUnavailable, store_for
from . import routing, transitions
from .regions import region_get, regions_by_names
from .registry import latest_version, model_get, version_get

__all__ = ["replication_start", "replication_get", "replicate_target", "TransientReplicationError",
           "replication_rollback", "replica_status", "estimated_completion"]

# Assumed throughput for the estimate until a transfer has been measured (bytes/second).
_DEFAULT_RATE = 50 * 1024 * 1024


class TransientReplicationError(Exception):
    """Worth retrying: the store was unreachable, or what landed does not match the digest."""


def replication_get(replication_id: str) -> ReplicationJob:
    try:
        return ReplicationJob.objects.select_related("version__model", "source_region").get(pk=replication_id)
    except ReplicationJob.DoesNotExist:
        raise ReplicationNotFound(f"Replication '{replication_id}' not found.",
                                  details={"replication_id": replication_id}) from None


def _measured_rate() -> float:
    done = ReplicationTarget.objects.filter(status=ReplicaStatus.COMPLETED, duration_seconds__gt=0) \
        .order_by("-completed_at")[:20]
    rates = [t.bytes_transferred / t.duration_seconds for t in done if t.bytes_transferred]
    return sum(rates) / len(rates) if rates else _DEFAULT_RATE


def estimated_completion(job: ReplicationJob):
    if job.completed_at:
        return job.completed_at
    seconds = job.version.size_bytes / _measured_rate()
    return job.created_at + timedelta(seconds=seconds + 1)


def replication_start(*, model_id: str, source_region: str, target_regions: list[str],
                      verify_checksum: bool = True, version: str | None = None, user=None) -> ReplicationJob:
    """Create the job and one target per region, then enqueue the copies once committed."""
    from ..tasks import replicate_target as task  # tasks import services; import here to avoid a cycle

    if source_region in target_regions:
        # Copying a store onto itself would "complete" having done nothing.
        raise DomainError("target_regions must not include the source region.", code=ErrorCode.VALIDATION_ERROR,
                          status=422, details={"target_regions": [f"{source_region} is the source region"]})
    source = region_get(source_region)
    targets = regions_by_names(list(dict.fromkeys(target_regions)))
    row = version_get(model_id, version) if version else latest_version(model_get(model_id))
    if row is None:
        raise ArtifactMissing(f"Model '{model_id}' has no version with an artifact.", details={"model_id": model_id})
    if not Replica.objects.filter(version=row, region=source, status=ReplicaStatus.COMPLETED).exists():
        raise ArtifactMissing(f"Model '{model_id}' version {row.version} is not in region {source.name}.",
                              details={"model_id": model_id, "region": source.name})
    with transaction.atomic():
        job = ReplicationJob.objects.create(version=row, source_region=source, verify_checksum=verify_checksum,
                                            requested_by=user)
        rows = [ReplicationTarget.objects.create(job=job, region=r) for r in targets]
        for region in targets:
            Replica.objects.get_or_create(version=row, region=region)
        emit("replication.started", {"replicationId": job.id, "modelId": model_id, "version": row.version,
                                     "sourceRegion": source.name, "targetRegions": [r.name for r in targets]})
        if not rows:
            _finish_job(job)
        for target in rows:
            transaction.on_commit(lambda pk=target.pk: task.delay(pk))
    return job


def _fail_or_retry(target: ReplicationTarget, error: str, final: bool) -> None:
    with transaction.atomic():
        target.error = error[:2000]
        if final:
            transitions.move("replication_target", target, ReplicaStatus.FAILED, fields=("error",),
                             event="replication.target_failed",
                             data={"replicationId": target.job_id, "region": target.region.name, "error": error})
            Replica.objects.filter(version=target.job.version, region=target.region) \
                .exclude(status=ReplicaStatus.COMPLETED).update(status=ReplicaStatus.FAILED, updated_at=timezone.now())
            _finish_job(target.job)
        else:
            target.save(update_fields=["error"])
            emit("replication.retrying", {"replicationId": target.job_id, "region": target.region.name,
                                          "attempt": target.attempts, "error": error}, severity="warning")


def replicate_target(target_id: int, *, final_attempt: bool) -> str:
    """Copy one target's artifact; raise TransientReplicationError to be retried."""
    target = ReplicationTarget.objects.select_related("job__version__model", "job__source_region", "region") \
        .get(pk=target_id)
    if target.status in (ReplicaStatus.COMPLETED, ReplicaStatus.ROLLED_BACK):
        return target.status  # a duplicate delivery: the work is done
    job, version = target.job, target.job.version
    with transaction.atomic():
        target.attempts += 1
        target.started_at = target.started_at or timezone.now()
        transitions.move("replication_target", target, ReplicaStatus.IN_PROGRESS, fields=("attempts", "started_at"))
        Replica.objects.filter(version=version, region=target.region).update(status=ReplicaStatus.IN_PROGRESS)
    started = time.perf_counter()
    try:
        source, dest = store_for(job.source_region.store_url), store_for(target.region.store_url)
        staged = dest.stage_copy(source, version.artifact_key, verify=job.verify_checksum,
                                 resume=target.transfer_state, checkpoint=_recorder(target))
    except StoreNotAllowed as exc:  # a store outside REGIONS_STORE_ALLOWED_ROOTS: retrying cannot help
        _fail_or_retry(target, exc.message, final=True)
        return ReplicaStatus.FAILED
    except StoreUnavailable as exc:
        return _store_failed(target, exc, final_attempt)
    except OSError as exc:
        _fail_or_retry(target, f"transfer failed: {exc}", final_attempt)
        raise TransientReplicationError(str(exc)) from exc
    result = staged.result
    if result.sha256 != version.sha256:
        staged.discard()  # the parts kept so far hold these wrong bytes: the next attempt starts over
        _record_state(target, {})
        how = {"read back": "read back", "store checksum": "streamed (the store checked each part)"}.get(
            result.checked, "streamed")
        error = f"sha256 mismatch in {target.region.name}: expected {version.sha256}, {how} {result.sha256}"
        if result.checked == "read back" and result.source_sha256 and result.source_sha256 != version.sha256:
            error += f"; the source in {job.source_region.name} streamed {result.source_sha256} (is it corrupted?)"
        _fail_or_retry(target, error, final_attempt)
        raise TransientReplicationError(error)
    try:
        staged.commit()
    except StoreUnavailable as exc:
        staged.discard()
        _record_state(target, {})
        return _store_failed(target, exc, final_attempt)
    duration = time.perf_counter() - started
    _complete(target, result.bytes_transferred, duration, result.resumed_bytes, result.parts)
    return ReplicaStatus.COMPLETED


def _recorder(target: ReplicationTarget):
    def record(state: dict) -> None:
        _record_state(target, state)
    return record


def _record_state(target: ReplicationTarget, state: dict) -> None:
    """What a resumable transfer has landed so far, saved at once (outside any transaction of the copy)."""
    target.transfer_state = state
    ReplicationTarget.objects.filter(pk=target.pk).update(transfer_state=state)


def _store_failed(target: ReplicationTarget, exc: StoreUnavailable, final_attempt: bool) -> str:
    """A store's failure: recorded with its reason; retried when a retry can help and attempts are left."""
    final = final_attempt or not exc.retryable
    if final:  # given up on: nothing of it may stay behind in the target store
        store_for(target.region.store_url).abandon(target.transfer_state)
        _record_state(target, {})
    _fail_or_retry(target, exc.message, final)
    if final:
        return ReplicaStatus.FAILED
    raise TransientReplicationError(exc.message) from exc


@transaction.atomic
def _complete(target: ReplicationTarget, transferred: int, duration: float, resumed: int, parts: int) -> None:
    version, now = target.job.version, timezone.now()
    transferred += resumed  # an earlier attempt sent those parts: they left the source all the same
    target.bytes_transferred += transferred
    target.resumed_bytes, target.duration_seconds = resumed, duration
    target.transfer_state = {"completedParts": parts} if parts else {}
    target.sha256, target.completed_at, target.error = version.sha256, now, ""
    transitions.move("replication_target", target, ReplicaStatus.COMPLETED,
                     fields=("bytes_transferred", "resumed_bytes", "duration_seconds", "transfer_state", "sha256",
                             "completed_at", "error"),
                     event="replication.target_completed",
                     data={"replicationId": target.job_id, "region": target.region.name,
                           "bytesTransferred": target.bytes_transferred, "resumedBytes": resumed,
                           "durationSeconds": duration})
    Replica.objects.filter(version=version, region=target.region).update(
        status=ReplicaStatus.COMPLETED, sha256=version.sha256, size_bytes=version.size_bytes,
        stored_since=now, updated_at=now)
    transaction.on_commit(routing.forget)
    # Egress is billed by the region the bytes leave.
    UsageRecord.objects.create(region=target.job.source_region, resource_type="network",
                               quantity=transferred / 1e9, unit="GB", reference=target.job_id)
    _finish_job(target.job)


def _finish_job(job: ReplicationJob) -> None:
    # Targets finish in parallel workers. Without the job's row lock, two that commit together
    # each read the other as in progress (read committed) and neither finishes the job.
    ReplicationJob.objects.select_for_update().filter(pk=job.pk).values_list("pk").first()
    statuses = set(job.targets.values_list("status", flat=True))
    if statuses & {ReplicaStatus.PENDING, ReplicaStatus.IN_PROGRESS}:
        return
    if statuses <= {ReplicaStatus.COMPLETED}:
        status = ReplicationStatus.COMPLETED
    elif ReplicaStatus.COMPLETED in statuses:
        status = ReplicationStatus.PARTIAL
    else:
        status = ReplicationStatus.FAILED
    updated = ReplicationJob.objects.filter(pk=job.pk, completed_at__isnull=True) \
        .update(status=status, completed_at=timezone.now())
    if updated:
        emit(f"replication.{'completed' if status == ReplicationStatus.COMPLETED else status}",
             {"replicationId": job.id, "status": status})


@transaction.atomic
def replication_rollback(*, replication_id: str) -> ReplicationJob:
    """Remove the replicas this job created (the source copy stays), so regions stop serving them."""
    job = replication_get(replication_id)
    if job.status == ReplicationStatus.ROLLED_BACK:
        raise InvalidTransition("This replication is already rolled back.")
    for target in job.targets.select_related("region"):
        if target.status == ReplicaStatus.COMPLETED:
            store_for(target.region.store_url).delete(job.version.artifact_key)
            transitions.move("replication_target", target, ReplicaStatus.ROLLED_BACK)
        Replica.objects.filter(version=job.version, region=target.region) \
            .update(status=ReplicaStatus.ROLLED_BACK, updated_at=timezone.now())
    transaction.on_commit(routing.forget)
    job.status, job.completed_at = ReplicationStatus.ROLLED_BACK, job.completed_at or timezone.now()
    job.save(update_fields=["status", "completed_at"])
    emit("replication.rolled_back", {"replicationId": job.id})
    return job


def replica_status(*, model_id: str | None = None, region: str | None = None) -> list[dict]:
    """Data-sync status: for each version and region, whether its replica is in sync."""
    rows = Replica.objects.select_related("version__model", "region").order_by(
        "version__model__name", "version__version", "region__name")
    if model_id:
        rows = rows.filter(version__model__name=model_id)
    if region:
        rows = rows.filter(region__name=region)
    return [{"model_id": r.version.model.name, "version": r.version.version, "region": r.region.name,
             "status": r.status, "in_sync": r.status == ReplicaStatus.COMPLETED and r.sha256 == r.version.sha256,
             "sha256": r.sha256, "size_bytes": r.size_bytes, "updated_at": r.updated_at} for r in rows]

