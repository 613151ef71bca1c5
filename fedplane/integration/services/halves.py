"""The two halves of a unified deployment: start, check and undo each, through its own app's services.

Every function returns an `Outcome` instead of raising the halves' domain errors, so the
caller decides (in one place) what a failure means for the other half.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Max

from fedplane.api.errors import DomainError
from federation_registry.choices import DeploymentStatus
from federation_registry.services import deployments as mf_deployments
from flcore.choices import ClientRole, ClientStatus, ExecutionStatus
from flcore.errors import ClientDisconnected
from flcore.models import ClientAssignment, TrainingExecution, TrainingRound
from flcore.services import clients as fl_clients
from flcore.services import executions as fl_executions

from ..choices import TrainingMode
from ..models import UnifiedDeployment

__all__ = ["Outcome", "federation_start", "federation_check", "federation_undo", "training_start",
           "training_check", "training_undo"]

WAITING, SUCCEEDED, FAILED, UNDONE, SKIPPED = "waiting", "succeeded", "failed", "undone", "skipped"


@dataclass
class Outcome:
    state: str
    code: str = ""
    message: str = ""
    detail: dict = field(default_factory=dict)

    @classmethod
    def of(cls, exc: DomainError, **detail) -> "Outcome":
        return cls(FAILED, exc.code, exc.message, {**exc.details, **detail})


# -- federation: a Module Federation deployment of the chosen modules ------------------------------

def federation_start(d: UnifiedDeployment) -> Outcome:
    strategy = (d.request.get("federation") or {}).get("strategy") or "blue-green"
    try:
        mf = mf_deployments.application_deploy(
            application_id=d.application_id, environment=d.environment, strategy=strategy,
            config={"modules": [{"moduleId": str(pk)} for pk in d.modules.values_list("pk", flat=True)]})
    except DomainError as exc:
        return Outcome.of(exc)
    d.federation_deployment = mf
    d.save(update_fields=["federation_deployment", "updated_at"])
    return federation_check(d)


def federation_check(d: UnifiedDeployment) -> Outcome:
    mf = d.federation_deployment
    detail = {"deploymentId": str(mf.pk), "strategy": mf.strategy, "deploymentStatus": mf.status,
              "trafficPercent": mf.traffic_percent}
    if mf.status == DeploymentStatus.COMPLETED:
        return Outcome(SUCCEEDED, detail=detail)
    if mf.status in (DeploymentStatus.ROLLED_BACK, DeploymentStatus.FAILED):
        return Outcome(FAILED, "MF005", f"Module Federation deployment {mf.status}: {mf.reason}", detail)
    return Outcome(WAITING, detail=detail)


def federation_undo(d: UnifiedDeployment, reason: str) -> Outcome:
    mf = d.federation_deployment
    if mf is None:
        return Outcome(SKIPPED, message="No Module Federation deployment was made.")
    if mf.status not in (DeploymentStatus.IN_PROGRESS, DeploymentStatus.COMPLETED):
        return Outcome(SKIPPED, message=f"The Module Federation deployment is already {mf.status}.",
                       detail={"deploymentId": str(mf.pk)})
    try:
        mf = mf_deployments.deployment_rollback(deployment_id=mf.pk, reason=reason[:500])
    except DomainError as exc:
        return Outcome.of(exc, deploymentId=str(mf.pk))
    d.federation_deployment = mf
    return Outcome(UNDONE, detail={"deploymentId": str(mf.pk), "deploymentStatus": mf.status})


# -- training: a new, joined or resumed execution with the chosen clients ---------------------------

def _clients_ready(d: UnifiedDeployment) -> None:
    """Flower can only train on clients whose SuperNode is connected."""
    clients = list(d.clients.all())
    offline = [str(c.pk) for c in clients if c.status == ClientStatus.OFFLINE]
    nodeless = [str(c.pk) for c in clients if not c.node_id and c.status != ClientStatus.OFFLINE]
    if offline or nodeless:
        raise ClientDisconnected("Some clients cannot train: they are offline or have no Flower node connected.",
                                 details={"offline": offline, "withoutFlowerNode": nodeless})


def _assign_missing(d: UnifiedDeployment, execution: TrainingExecution) -> list[str]:
    assigned = {str(pk) for pk in ClientAssignment.objects.filter(execution=execution)
                .values_list("client_id", flat=True)}
    added = [str(pk) for pk in d.clients.values_list("pk", flat=True) if str(pk) not in assigned]
    for client_id in added:
        fl_clients.client_assign(client_id=client_id, execution_id=execution.pk, role=ClientRole.TRAINER)
    return added


def _next_round(execution: TrainingExecution) -> int:
    last = TrainingRound.objects.filter(execution=execution).aggregate(n=Max("round_number"))["n"]
    return max(last or 0, execution.current_round) + 1


def training_start(d: UnifiedDeployment) -> Outcome:
    """Start, join or resume per `d.training_mode`; records the execution and the first round."""
    training = d.request.get("federatedLearning") or {}
    client_ids = [str(pk) for pk in d.clients.values_list("pk", flat=True)]
    added: list[str] = []
    try:
        _clients_ready(d)
        if d.training_mode == TrainingMode.START:
            spec = training["config"]
            execution = fl_executions.execution_create(
                user=d.created_by, model_type=spec["modelType"], algorithm=spec["algorithm"], config=spec["config"],
                privacy_config=spec.get("privacyConfig"), client_ids=client_ids)
            d.first_round = 1
        else:
            execution = fl_executions.execution_get(d.execution_id)
            added = _assign_missing(d, execution)
            if d.training_mode == TrainingMode.RESUME:
                execution = fl_executions.execution_resume(execution_id=execution.pk)
                d.first_round = (execution.resume_from_round or 0) + 1
            else:
                d.first_round = _next_round(execution)
    except DomainError as exc:
        return Outcome.of(exc)
    d.execution, d.started_execution = execution, d.training_mode == TrainingMode.START
    d.save(update_fields=["execution", "started_execution", "first_round", "updated_at"])
    outcome = training_check(d)
    outcome.detail.update(mode=d.training_mode, firstRound=d.first_round,
                          **({"assignedClients": added} if d.training_mode != TrainingMode.START else {}))
    return outcome


def training_check(d: UnifiedDeployment) -> Outcome:
    execution = TrainingExecution.objects.get(pk=d.execution_id)
    detail = {"executionId": str(execution.pk), "executionStatus": execution.status}
    if execution.status in (ExecutionStatus.RUNNING, ExecutionStatus.COMPLETED):
        return Outcome(SUCCEEDED, detail=detail)
    if execution.status == ExecutionStatus.QUEUED:
        return Outcome(WAITING, detail=detail)
    code = execution.error_code or "FL003"
    message = execution.error_message or f"The execution is {execution.status} before it started training."
    return Outcome(FAILED, code, message, detail)


def training_undo(d: UnifiedDeployment, reason: str) -> Outcome:
    if d.execution_id is None:
        return Outcome(SKIPPED, message="No execution was started or joined.")
    detail = {"executionId": str(d.execution_id), "mode": d.training_mode}
    if d.training_mode == TrainingMode.JOIN:
        # Somebody else's execution keeps running; only the clients this deployment added leave it.
        step = next((s for s in d.steps if s["name"] == "training"), {"detail": {}})
        added = step["detail"].get("assignedClients", [])
        try:
            removed = [c for c in added if fl_clients.client_unassign(client_id=c, execution_id=d.execution_id)]
        except DomainError as exc:
            return Outcome.of(exc, **detail)
        return Outcome(UNDONE if removed else SKIPPED, detail={**detail, "unassignedClients": removed},
                       message="The joined execution keeps running without the clients this deployment added.")
    try:
        execution = fl_executions.execution_stop(execution_id=d.execution_id, reason=reason[:500])
    except DomainError as exc:  # it ended on its own (completed, failed, stopped) meanwhile
        return Outcome(SKIPPED, message=exc.message, detail={**detail, **exc.details})
    return Outcome(UNDONE, detail={**detail, "executionStatus": execution.status})
