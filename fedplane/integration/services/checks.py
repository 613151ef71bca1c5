"""What `POST /integration/deploy` checks before it accepts: every id it names exists, belongs
together and is in a state the deployment can use. Each check raises the owning app's error."""
from __future__ import annotations

from django.db.models import QuerySet

from federation_registry.choices import DeploymentStatus as MFStatus
from federation_registry.errors import DeploymentFailed, InvalidConfiguration
from federation_registry.models import Application, Deployment as MFDeployment, RemoteModule
from flcore.choices import ExecutionStatus
from flcore.errors import InsufficientClients
from flcore.errors import InvalidTransition as ExecutionConflict
from flcore.models import FLClient
from flcore.services.executions import execution_get

from ..choices import TrainingMode

__all__ = ["modules_of", "clients_of", "training_mode", "environment_free"]


def modules_of(app, refs: list[str]) -> list[RemoteModule]:
    """By id or container name; an empty list means every module of the application."""
    modules = list(app.modules.all())
    if not refs:
        if not modules:
            raise InvalidConfiguration(f"Application {app.name} has no modules to deploy.")
        return modules
    by_ref = {**{m.name: m for m in modules}, **{str(m.pk): m for m in modules}}
    unknown = [r for r in refs if r not in by_ref]
    if unknown:
        raise InvalidConfiguration(f"Not modules of {app.name}: {', '.join(unknown)}.", details={"modules": unknown})
    return list({by_ref[r].pk: by_ref[r] for r in refs}.values())


def clients_of(client_ids: list[str]) -> list[FLClient]:
    found = {str(c.pk): c for c in FLClient.objects.filter(pk__in=client_ids)}
    missing = sorted(set(client_ids) - set(found))
    if missing:  # as POST /fl/executions answers it
        raise InsufficientClients("Some requested clients are not registered.", details={"missing": missing})
    return list(found.values())


def training_mode(execution_id: str | None, spec: dict | None, clients: int) -> TrainingMode:
    if execution_id is None:
        min_clients = int(spec["config"]["minClients"])
        if clients < min_clients:
            raise InsufficientClients(f"{clients} clients requested, minClients is {min_clients}.",
                                      details={"clients": clients, "minClients": min_clients})
        return TrainingMode.START
    execution = execution_get(execution_id)  # FL001
    if execution.status in (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING):
        return TrainingMode.JOIN
    if execution.status in (ExecutionStatus.STOPPED, ExecutionStatus.FAILED):
        return TrainingMode.RESUME
    raise ExecutionConflict(f"Execution {execution_id} is {execution.status}: only a pending or running execution "
                            "can be joined, and a stopped or failed one resumed.",
                            details={"executionId": str(execution_id), "status": execution.status})


def environment_free(app: Application, environment: str, *, busy: QuerySet) -> None:
    """One deployment of an application per environment at a time (`busy`: unfinished unified ones)."""
    if (MFDeployment.objects.filter(application=app, environment=environment, status=MFStatus.IN_PROGRESS).exists()
            or busy.filter(application=app, environment=environment).exists()):
        raise DeploymentFailed(f"A deployment of {app.name} to {environment} is in progress; wait for it, or roll "
                               "it back first.", details={"applicationId": str(app.pk), "environment": environment})
