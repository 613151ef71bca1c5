"""The seed's cross-system relations, recorded as a unified deployment makes them true."""
from __future__ import annotations

from django.db import IntegrityError, transaction

from federation_registry.models import SharedDependency
from flcore.models import AggregatedModel, TrainingRound

from ..models import ModelRequirement, ModuleClientDeployment, TriggeredExecution, UnifiedDeployment

__all__ = ["trigger_record", "module_clients_record", "module_clients_forget", "coordinated_round_sync",
           "requirements_sync"]


def trigger_record(d: UnifiedDeployment) -> None:
    """Application ||--o{ TrainingExecution : triggers (the first deployment that did it keeps the link)."""
    if d.application_id and d.execution_id:
        TriggeredExecution.objects.get_or_create(application_id=d.application_id, execution_id=d.execution_id,
                                                 defaults={"deployment": d})


def module_clients_record(d: UnifiedDeployment, targets: dict) -> int:
    """RemoteModule ||--o{ FLClient : deployed-to, one row per module x client at the deployed version."""
    clients = list(d.clients.values_list("pk", flat=True))
    count = 0
    for module in d.modules.all():
        version = (targets.get(str(module.pk)) or {}).get("version") or module.version
        for client_id in clients:
            ModuleClientDeployment.objects.update_or_create(
                module=module, client_id=client_id, environment=d.environment,
                defaults={"version": version, "deployment": d})
            count += 1
    return count


def module_clients_forget(d: UnifiedDeployment) -> int:
    """A rolled-back deployment no longer put its modules on those clients."""
    return ModuleClientDeployment.objects.filter(deployment=d).delete()[0]


def coordinated_round_sync(d: UnifiedDeployment) -> bool:
    """Deployment ||--|| TrainingRound : coordinates: the round the training half began with,
    once Flower has started it. Returns True when it was set now."""
    if d.coordinated_round_id or not d.execution_id or d.first_round is None:
        return False
    round_ = (TrainingRound.objects.filter(execution_id=d.execution_id, round_number__gte=d.first_round,
                                           coordinating_deployment__isnull=True)
              .order_by("round_number").first())
    if round_ is None:
        return False
    try:
        with transaction.atomic():
            UnifiedDeployment.objects.filter(pk=d.pk).update(coordinated_round=round_)
    except IntegrityError:  # another deployment joined the same execution and took this round first
        return False
    d.coordinated_round = round_
    return True


@transaction.atomic
def requirements_sync(deployment: UnifiedDeployment) -> int:
    """SharedDependency ||--o{ AggregatedModel : required-by: every model the execution has aggregated
    so far needs the shared dependencies of the application whose shells use it. Idempotent;
    returns how many links it added."""
    d = deployment
    if not d.application_id or not d.execution_id:
        return 0
    dependencies = list(SharedDependency.objects.filter(applications=d.application_id).values_list("pk", flat=True))
    models = list(AggregatedModel.objects.filter(execution_id=d.execution_id).values_list("pk", flat=True))
    if not dependencies or not models:
        return 0
    existing = set(ModelRequirement.objects.filter(dependency_id__in=dependencies, aggregated_model_id__in=models)
                   .values_list("dependency_id", "aggregated_model_id"))
    rows = [ModelRequirement(dependency_id=dep, aggregated_model_id=model, deployment=d)
            for dep in dependencies for model in models if (dep, model) not in existing]
    ModelRequirement.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)
