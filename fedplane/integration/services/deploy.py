"""Unified deployments: a Module Federation deployment and a federated training, coordinated.

`deployment_create` validates everything the request names and queues the work;
`deployment_advance` (the Celery task's body) moves the deployment on as far as it can
and says when to look again; `deployment_rollback` undoes both halves. All three lock
the deployment's row, so a rollback racing the task waits for it and then sees its result.
Status changes go through `_transition` (one table, one event each).
"""
from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from fedplane.api.errors import DomainError, ErrorCode
from fedplane.events.services import emit
from federation_registry.services.applications import application_get
from flcore.choices import ExecutionStatus

from ..choices import StepStatus, TrainingMode, UnifiedStatus as U
from ..models import UnifiedDeployment
from . import checks, halves, relations
from .relations import requirements_sync

__all__ = ["deployment_get", "deployment_create", "deployment_advance", "deployment_abort", "deployment_rollback",
           "deployment_status", "requirements_sync", "TRANSITIONS", "UnifiedDeploymentNotFound"]

POLL_SECONDS = 1.0     # while the training half waits for its execution to run
SLOW_POLL_SECONDS = 5.0  # while a canary or rolling deployment widens, and after completion while the
                         # training runs (its coordinated round and aggregated models appear)
TERMINAL = {U.COMPLETED, U.FAILED, U.ROLLED_BACK}
TRANSITIONS: dict[str, set[str]] = {
    U.PENDING: {U.DEPLOYING, U.TRAINING, U.FAILED, U.ROLLING_BACK},
    U.DEPLOYING: {U.TRAINING, U.COMPLETED, U.FAILED, U.ROLLING_BACK},
    U.TRAINING: {U.COMPLETED, U.FAILED, U.ROLLING_BACK},
    U.COMPLETED: {U.ROLLING_BACK},
    U.FAILED: {U.ROLLING_BACK},
    U.ROLLING_BACK: {U.ROLLED_BACK, U.FAILED},
    U.ROLLED_BACK: set(),
}
EVENTS = {U.COMPLETED: "integration.deployment.completed", U.FAILED: "integration.deployment.failed",
          U.ROLLING_BACK: "integration.rollback.started", U.ROLLED_BACK: "integration.deployment.rolled_back"}
FEDERATION, TRAINING = "federation", "training"


class UnifiedDeploymentNotFound(DomainError):
    code, status, default_message = ErrorCode.NOT_FOUND, 404, "Unified deployment not found."


class UnifiedConflict(DomainError):
    code, status, default_message = ErrorCode.CONFLICT, 409, "The unified deployment cannot do that now."


def deployment_get(deployment_id: Any, *, for_update: bool = False) -> UnifiedDeployment:
    qs = UnifiedDeployment.objects.select_for_update() if for_update else UnifiedDeployment.objects
    try:
        return qs.get(pk=deployment_id)
    except (UnifiedDeployment.DoesNotExist, ValueError, TypeError, DjangoValidationError):
        raise UnifiedDeploymentNotFound(f"Unified deployment {deployment_id} not found.",
                                        details={"deploymentId": str(deployment_id)})


# -- records: steps, status, events ------------------------------------------------------------------

def _now() -> str:
    return timezone.now().isoformat().replace("+00:00", "Z")


def _step(d: UnifiedDeployment, name: str, status: str, detail: dict | None = None, *, message: str = "") -> None:
    entry = next((s for s in d.steps if s["name"] == name), None)
    if entry is None:
        entry = {"name": name, "detail": {}}
        d.steps = [*d.steps, entry]
    entry.update(status=status, at=_now())
    entry["detail"] = {**entry["detail"], **(detail or {}), **({"message": message} if message else {})}


def _step_status(d: UnifiedDeployment, name: str) -> str | None:
    return next((s["status"] for s in d.steps if s["name"] == name), None)


def _payload(d: UnifiedDeployment, **extra: Any) -> dict:
    return {"deploymentId": str(d.pk), "applicationId": str(d.application_id) if d.application_id else None,
            "environment": d.environment, "status": d.status,
            "federationDeploymentId": str(d.federation_deployment_id) if d.federation_deployment_id else None,
            "executionId": str(d.execution_id) if d.execution_id else None, **extra}


def _emit(name: str, d: UnifiedDeployment, **extra: Any) -> None:
    emit(f"integration.{name}", _payload(d, **extra), system="integration")


def _transition(d: UnifiedDeployment, to: str, **extra: Any) -> None:
    if to == d.status:
        return
    if to not in TRANSITIONS[d.status]:
        raise UnifiedConflict(f"A unified deployment that is {d.status} cannot become {to}.",
                              details={"deploymentId": str(d.pk), "status": d.status, "requested": to})
    d.status = to
    if to in TERMINAL:
        d.completed_at = timezone.now()
    d.save()
    if to in EVENTS:
        emit(EVENTS[to], _payload(d, **extra), system="integration",
             severity="warning" if to in (U.ROLLING_BACK, U.ROLLED_BACK) else None)


def _schedule(d: UnifiedDeployment, countdown: float) -> None:
    """Queue the next look once this transaction commits; only the newest queued task acts."""
    from ..tasks import advance_deployment

    task_id = str(uuid.uuid4())
    d.celery_task_id = task_id
    UnifiedDeployment.objects.filter(pk=d.pk).update(celery_task_id=task_id)
    deployment_id = str(d.pk)
    transaction.on_commit(lambda: advance_deployment.apply_async(args=[deployment_id], task_id=task_id,
                                                                 countdown=countdown))


# -- create ------------------------------------------------------------------------------------------

@transaction.atomic
def deployment_create(*, user, application_id: str, modules: list[str], environment: str, clients: list[str],
                      execution_id: str | None = None, training: dict | None = None, strategy: str = "blue-green",
                      sync_deployment: bool = True, rollback_on_failure: bool = True) -> UnifiedDeployment:
    """Check every id and state the request names, store the deployment, queue its task."""
    app = application_get(application_id)  # MF001
    chosen = checks.modules_of(app, modules)
    fl_clients = checks.clients_of(clients)
    mode = checks.training_mode(execution_id, training, len(fl_clients))
    checks.environment_free(app, environment, busy=UnifiedDeployment.objects.exclude(status__in=TERMINAL))
    d = UnifiedDeployment.objects.create(
        environment=environment, application=app, sync_deployment=sync_deployment,
        rollback_on_failure=rollback_on_failure, training_mode=mode, created_by=user,
        execution_id=execution_id if mode != TrainingMode.START else None,
        request={"federation": {"applicationId": str(app.pk), "modules": [str(m.pk) for m in chosen],
                                "strategy": strategy},
                 "federatedLearning": {"executionId": execution_id, "clients": [str(c.pk) for c in fl_clients],
                                       **({"config": training} if training else {})},
                 "environment": environment,
                 "coordination": {"syncDeployment": sync_deployment, "rollbackOnFailure": rollback_on_failure}})
    d.modules.set(chosen)
    d.clients.set(fl_clients)
    _step(d, FEDERATION, StepStatus.PENDING)
    _step(d, TRAINING, StepStatus.PENDING, {"mode": mode})
    d.save(update_fields=["steps"])
    _emit("deployment.started", d, modules=[str(m.pk) for m in chosen], clients=[str(c.pk) for c in fl_clients],
          trainingMode=mode, syncDeployment=sync_deployment, rollbackOnFailure=rollback_on_failure)
    _schedule(d, 0)
    return d


# -- advance -----------------------------------------------------------------------------------------

def _half_done(d: UnifiedDeployment, half: str, outcome: halves.Outcome) -> bool:
    """Record a half's outcome; False when it failed (the caller then applies the failure policy)."""
    if outcome.state == halves.WAITING:
        _step(d, half, StepStatus.RUNNING, outcome.detail)
        return True
    if outcome.state == halves.SUCCEEDED:
        _step(d, half, StepStatus.SUCCEEDED, outcome.detail)
        d.save()
        _emit("federation.deployed" if half == FEDERATION else "training.started", d, detail=outcome.detail)
        return True
    _step(d, half, StepStatus.FAILED, {"code": outcome.code, **outcome.detail}, message=outcome.message)
    d.error_code, d.error_message = outcome.code, f"{half}: {outcome.message}"[:2000]
    d.save()
    _emit("federation.failed" if half == FEDERATION else "training.failed", d,
          error={"code": outcome.code, "message": outcome.message})
    return False


def _start_training(d: UnifiedDeployment) -> bool:
    outcome = halves.training_start(d)
    if d.execution_id and outcome.state != halves.FAILED:
        relations.trigger_record(d)
    return _half_done(d, TRAINING, outcome)


def _progress(d: UnifiedDeployment) -> bool:
    """Move each half on; False as soon as one has failed."""
    if _step_status(d, FEDERATION) == StepStatus.PENDING:
        if not _half_done(d, FEDERATION, halves.federation_start(d)):
            return False
    elif _step_status(d, FEDERATION) == StepStatus.RUNNING:
        if not _half_done(d, FEDERATION, halves.federation_check(d)):
            return False
    federation_ok = _step_status(d, FEDERATION) == StepStatus.SUCCEEDED
    training = _step_status(d, TRAINING)
    if training == StepStatus.PENDING and (federation_ok or not d.sync_deployment):
        return _start_training(d)
    if training == StepStatus.RUNNING:
        return _half_done(d, TRAINING, halves.training_check(d))
    return True


def _follow(d: UnifiedDeployment) -> float | None:
    """After completion: record the coordinated round and model requirements while the training runs."""
    relations.coordinated_round_sync(d)
    requirements_sync(d)
    if d.status != U.COMPLETED or not d.execution_id:
        return None
    running = d.execution.status in (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING, ExecutionStatus.STOPPING)
    return SLOW_POLL_SECONDS if running else None


def deployment_advance(deployment_id: Any, *, task_id: str | None = None) -> float | None:
    """One look at the deployment; returns the seconds until the next look (None: nothing left)."""
    with transaction.atomic():
        d = UnifiedDeployment.objects.select_for_update().filter(pk=deployment_id).first()
        if d is None:
            return None  # deleted meanwhile: nothing left to do
        if task_id and d.celery_task_id and task_id != d.celery_task_id:
            return None  # a newer task follows this deployment
        if d.status in TERMINAL:
            delay = _follow(d)
        elif not _progress(d):
            _fail(d)
            delay = None
        elif {_step_status(d, FEDERATION), _step_status(d, TRAINING)} == {StepStatus.SUCCEEDED}:
            relations.module_clients_record(d, d.federation_deployment.targets)
            _transition(d, U.COMPLETED, coordinatedRound=d.first_round)
            delay = _follow(d)
        else:
            federation_ok = _step_status(d, FEDERATION) == StepStatus.SUCCEEDED
            _transition(d, U.TRAINING if federation_ok else U.DEPLOYING)
            d.save()
            delay = POLL_SECONDS if federation_ok else SLOW_POLL_SECONDS
        if delay is not None:
            _schedule(d, delay)
        return delay


def deployment_abort(deployment_id: Any, *, message: str) -> None:
    """A step broke unexpectedly: record it and apply the failure policy, so the deployment never hangs."""
    with transaction.atomic():
        d = UnifiedDeployment.objects.select_for_update().filter(pk=deployment_id).first()
        if d is None or d.status in TERMINAL or d.status == U.ROLLING_BACK:
            return
        d.error_code, d.error_message = ErrorCode.INTERNAL_ERROR, message[:2000]
        d.save()
        _fail(d)


def _fail(d: UnifiedDeployment) -> None:
    if d.rollback_on_failure:
        _rollback(d, reason=f"automatic rollback: {d.error_message}", automatic=True)
    else:
        _transition(d, U.FAILED, error={"code": d.error_code, "message": d.error_message})


# -- rollback ----------------------------------------------------------------------------------------

def _rollback(d: UnifiedDeployment, *, reason: str, automatic: bool, user=None) -> None:
    _transition(d, U.ROLLING_BACK, reason=reason, automatic=automatic,
                user=getattr(user, "username", None) if user else None)
    failures = []
    for half, undo in ((TRAINING, halves.training_undo), (FEDERATION, halves.federation_undo)):
        outcome = undo(d, reason)
        status = {halves.UNDONE: StepStatus.UNDONE, halves.SKIPPED: StepStatus.SKIPPED}.get(outcome.state,
                                                                                            StepStatus.FAILED)
        _step(d, f"rollback:{half}", status, {**({"code": outcome.code} if outcome.code else {}), **outcome.detail},
              message=outcome.message)
        if status == StepStatus.FAILED:
            failures.append((half, outcome))
    if _step_status(d, f"rollback:{FEDERATION}") == StepStatus.UNDONE:
        relations.module_clients_forget(d)
    if failures:
        half, outcome = failures[0]
        d.error_code, d.error_message = outcome.code, f"rollback of {half}: {outcome.message}"[:2000]
        _transition(d, U.FAILED, error={"code": outcome.code, "message": d.error_message})
    else:
        _transition(d, U.ROLLED_BACK, reason=reason, automatic=automatic)


@transaction.atomic
def deployment_rollback(deployment_id: Any, user=None, reason: str = "manual rollback") -> UnifiedDeployment:
    """Undo both halves: roll the Module Federation deployment back, stop an execution this
    deployment started or resumed (a joined one keeps running). Waits for a running task's step."""
    d = deployment_get(deployment_id, for_update=True)
    if d.status in (U.ROLLING_BACK, U.ROLLED_BACK):
        raise UnifiedConflict(f"The deployment is already {d.status}.",
                              details={"deploymentId": str(d.pk), "status": d.status})
    _rollback(d, reason=reason or "manual rollback", automatic=False, user=user)
    return d


def deployment_status(deployment_id: Any) -> UnifiedDeployment:
    """The deployment, with its coordinated round and model requirements brought up to date."""
    with transaction.atomic():
        d = deployment_get(deployment_id, for_update=True)
        relations.coordinated_round_sync(d)
        requirements_sync(d)
    return d
