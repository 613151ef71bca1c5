"""Deployments of a model version across regions: rolling, blue-green, canary.

Each region is validated for `validation_period_seconds`: smoke predictions on a
sample input run against the new version there, and its recorded requests in that
region (real traffic and smoke alike) must stay within `max_error_rate` and
`max_latency_ms` (p95). A failure rolls every touched region back to the version it
served before when `rollback_on_failure`. Progress is written as events.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from fedplane.api.errors import DomainError
from fedplane.events.services import emit

from ..choices import DeploymentStatus, DeploymentStrategy, ReplicaStatus, TargetStatus
from ..errors import DeploymentConflict, DeploymentNotFound
from ..models import Deployment, DeploymentTarget, Replica, RequestMetric, Serving
from . import routing, transitions
from .metrics import percentile
from .regions import regions_by_names
from .registry import version_get
from .routing import Route

__all__ = ["deployment_start", "deployment_get", "deployment_run", "deployment_rollback", "SMOKE_INTERVAL"]

SMOKE_INTERVAL = 0.2  # seconds between smoke predictions while validating


def deployment_get(deployment_id: str) -> Deployment:
    try:
        return Deployment.objects.select_related("model", "version").get(pk=deployment_id)
    except Deployment.DoesNotExist:
        raise DeploymentNotFound(f"Deployment '{deployment_id}' not found.",
                                 details={"deployment_id": deployment_id}) from None


def deployment_start(*, model_id: str, version: str, strategy: str, regions: list[str],
                     rollback_on_failure: bool = True, validation_period_seconds: float = 300,
                     canary_percent: int = 10, max_error_rate: float = 0.05, max_latency_ms: float = 1000,
                     user=None) -> Deployment:
    from ..tasks import run_deployment

    row = version_get(model_id, version)
    targets = regions_by_names(list(dict.fromkeys(regions)))
    missing = [r.name for r in targets if not Replica.objects.filter(
        version=row, region=r, status=ReplicaStatus.COMPLETED).exists()]
    if missing:
        raise DomainError(f"Version {version} is not replicated to: {', '.join(missing)}. Replicate it first.",
                          code="ARTIFACT_NOT_AVAILABLE", status=409, details={"regions": missing})
    with transaction.atomic():
        if Deployment.objects.filter(model=row.model, status__in=(DeploymentStatus.IN_PROGRESS,
                                                                  DeploymentStatus.VALIDATING)).exists():
            raise DeploymentConflict(details={"model_id": model_id})
        deployment = Deployment.objects.create(
            model=row.model, version=row, strategy=strategy, rollback_on_failure=rollback_on_failure,
            validation_period_seconds=validation_period_seconds, canary_percent=canary_percent,
            max_error_rate=max_error_rate, max_latency_ms=max_latency_ms, requested_by=user)
        for position, region in enumerate(targets):
            serving = Serving.objects.filter(model=row.model, region=region).first()
            DeploymentTarget.objects.create(deployment=deployment, region=region, position=position,
                                            previous_version=serving.version if serving else None)
        emit("deployment.started", {"deploymentId": deployment.id, "modelId": model_id, "version": version,
                                    "strategy": strategy, "regions": [r.name for r in targets]})
        transaction.on_commit(lambda: run_deployment.delay(deployment.id))
    return deployment


def _serve(target: DeploymentTarget, version, *, canary_percent: int = 0) -> None:
    """Point the region at `version` (or give it `canary_percent` of its traffic)."""
    model, now = target.deployment.model, timezone.now()
    transaction.on_commit(routing.forget)
    serving = Serving.objects.filter(model=model, region=target.region).first()
    if canary_percent and serving is not None:
        serving.canary_version, serving.canary_percent, serving.updated_at = version, canary_percent, now
        serving.save(update_fields=["canary_version", "canary_percent", "updated_at"])
        return
    Serving.objects.update_or_create(model=model, region=target.region, defaults={
        "version": version, "canary_version": None, "canary_percent": 0, "updated_at": now})


def _restore(target: DeploymentTarget) -> None:
    if target.previous_version is None:
        Serving.objects.filter(model=target.deployment.model, region=target.region).delete()
    else:
        _serve(target, target.previous_version)


def _smoke(deployment: Deployment, target: DeploymentTarget) -> None:
    from .serving import run_tensor

    schema = deployment.version.input_schema or {}
    shape = [1 if d in (-1, None) else int(d) for d in schema.get("shape", [1])]
    sample = np.zeros(shape, dtype=np.dtype(schema.get("dtype", "float32")))
    try:
        run_tensor(Route(region=target.region, version=deployment.version, variant="canary", local=True), sample)
    except DomainError:  # recorded as a failed request of this version in this region; judged below
        pass


def _observed(deployment: Deployment, target: DeploymentTarget) -> dict[str, Any]:
    rows = list(RequestMetric.objects.filter(region=target.region.name, model_name=deployment.model.name,
                                             version=deployment.version.version,
                                             at__gte=target.validation_started_at).values_list("ok", "latency_ms"))
    errors = sum(1 for ok, _ in rows if not ok)
    return {"requests": len(rows), "error_rate": errors / len(rows) if rows else 0.0,
            "latency_p95_ms": percentile([lat for _, lat in rows], 95)}


def _validate(deployment: Deployment, targets: list[DeploymentTarget]) -> list[DeploymentTarget]:
    """Validate `targets` together for the period; the ones that failed."""
    now = timezone.now()
    for target in targets:
        target.validation_started_at, target.status = now, TargetStatus.VALIDATING
        target.save(update_fields=["validation_started_at", "status"])
    emit("deployment.validating", {"deploymentId": deployment.id, "regions": [t.region.name for t in targets],
                                   "validationPeriodSeconds": deployment.validation_period_seconds})
    deadline = time.monotonic() + deployment.validation_period_seconds
    while True:
        for target in targets:
            _smoke(deployment, target)
        if time.monotonic() >= deadline:
            break
        time.sleep(min(SMOKE_INTERVAL, max(0.0, deadline - time.monotonic())))
    failed = []
    for target in targets:
        target.observed = _observed(deployment, target)
        bad = target.observed["error_rate"] > deployment.max_error_rate or \
            (target.observed["latency_p95_ms"] or 0) > deployment.max_latency_ms
        target.status = TargetStatus.FAILED if bad else TargetStatus.DEPLOYED
        target.save(update_fields=["observed", "status"])
        emit(f"deployment.region_{'failed' if bad else 'deployed'}",
             {"deploymentId": deployment.id, "region": target.region.name, **target.observed})
        if bad:
            failed.append(target)
    return failed


def deployment_run(*, deployment_id: str) -> str:
    deployment = deployment_get(deployment_id)
    if deployment.status not in (DeploymentStatus.IN_PROGRESS, DeploymentStatus.VALIDATING):
        return deployment.status
    targets = list(deployment.targets.select_related("region", "previous_version"))
    new = deployment.version
    touched: list[DeploymentTarget] = []
    failed: list[DeploymentTarget] = []
    if deployment.strategy == DeploymentStrategy.ROLLING:
        for target in targets:  # one region at a time; stop at the first that fails
            _serve(target, new)
            touched.append(target)
            failed = _validate(deployment, [target])
            if failed:
                break
    elif deployment.strategy == DeploymentStrategy.CANARY:
        for target in targets:  # the new version takes a share of each region's traffic first
            has_stable = Serving.objects.filter(model=deployment.model, region=target.region).exists()
            _serve(target, new, canary_percent=deployment.canary_percent if has_stable else 0)
            touched.append(target)
        failed = _validate(deployment, targets)
        if not failed:
            for target in targets:
                _serve(target, new)  # promote: the canary becomes the stable version
    else:  # blue-green: validate the green version everywhere while blue serves, then switch at once
        touched = targets
        failed = _validate(deployment, targets)
        if not failed:
            with transaction.atomic():
                for target in targets:
                    _serve(target, new)
    return _finish(deployment, touched, failed)


def _finish(deployment: Deployment, touched: list[DeploymentTarget], failed: list[DeploymentTarget]) -> str:
    with transaction.atomic():
        deployment.refresh_from_db()
        deployment.completed_at = timezone.now()
        if not failed:
            transitions.move("deployment", deployment, DeploymentStatus.COMPLETED, fields=("completed_at",),
                             event="deployment.completed", data={"deploymentId": deployment.id})
            return deployment.status
        deployment.error = "; ".join(f"{t.region.name}: {t.observed}" for t in failed)
        if deployment.rollback_on_failure:
            _roll_back(deployment, touched)
            transitions.move("deployment", deployment, DeploymentStatus.ROLLED_BACK,
                             fields=("completed_at", "error"), event="deployment.rolled_back",
                             data={"deploymentId": deployment.id, "automatic": True,
                                   "failedRegions": [t.region.name for t in failed]})
        else:
            if deployment.strategy == DeploymentStrategy.CANARY:
                _roll_back(deployment, failed)  # a failed canary never keeps traffic
            transitions.move("deployment", deployment, DeploymentStatus.FAILED, fields=("completed_at", "error"),
                             event="deployment.failed", data={"deploymentId": deployment.id,
                                                              "failedRegions": [t.region.name for t in failed]})
    return deployment.status


def _roll_back(deployment: Deployment, targets: list[DeploymentTarget]) -> None:
    for target in targets:
        _restore(target)
        if target.status != TargetStatus.FAILED:
            target.status = TargetStatus.ROLLED_BACK
            target.save(update_fields=["status"])


@transaction.atomic
def deployment_rollback(*, deployment_id: str) -> Deployment:
    deployment = deployment_get(deployment_id)
    targets = list(deployment.targets.select_related("region", "previous_version"))
    transitions.move("deployment", deployment, DeploymentStatus.ROLLED_BACK, event="deployment.rolled_back",
                     data={"deploymentId": deployment.id, "automatic": False})
    _roll_back(deployment, targets)
    return deployment
