"""Aggregation status, configuration, manual triggers and model export."""
from __future__ import annotations

from django.conf import settings
from django.db import transaction

from fedplane.api.errors import DomainError
from fedplane.events.services import emit

from ..choices import ExecutionStatus as S
from ..errors import AggregationError, InvalidTransition, RoundNotFound
from ..models import AggregatedModel
from .executions import execution_get

__all__ = ["aggregation_status", "aggregation_configure", "aggregation_trigger", "aggregated_model_export"]


def aggregation_status(*, execution_id) -> dict:
    execution = execution_get(execution_id)
    last = AggregatedModel.objects.filter(execution=execution).order_by("-round_number").first()
    config = execution.aggregation_config
    return {
        "executionId": str(execution.id),
        "status": execution.status,
        "strategy": config.get("strategy", execution.algorithm),
        "weights": config.get("weights", "proportional"),
        "validation": config.get("validation", {"enabled": False}),
        "currentRound": execution.current_round,
        "totalRounds": execution.total_rounds,
        "pendingTrigger": config.get("trigger"),
        "lastAggregation": None if last is None else {
            "round": last.round_number, "sha256": last.sha256, "sizeBytes": last.size_bytes,
            "accepted": last.metadata.get("accepted", True), "performance": last.performance,
            "createdAt": last.created_at},
    }


@transaction.atomic
def aggregation_configure(*, execution_id, weights: str, strategy: str | None = None,
                          validation: dict | None = None) -> dict:
    """Store the aggregation settings; a running execution applies validation from its next
    round, weights and strategy from its next start or resume."""
    execution = execution_get(execution_id, for_update=True)
    if strategy and strategy not in ("fedavg", "fedprox", "fedopt", "custom", *settings.FLCORE_STRATEGY_PLUGINS):
        raise AggregationError(f"unknown strategy {strategy!r}", details={"strategy": strategy})
    if validation and validation.get("enabled") and validation.get("threshold") is None:
        raise DomainError("validation.threshold is required when validation is enabled",
                          code="VALIDATION_ERROR", status=422)
    config = {**execution.aggregation_config, "weights": weights}
    if strategy and strategy != "custom":
        config["strategy"] = strategy
    if validation is not None:
        config["validation"] = validation
    execution.aggregation_config = config
    execution.save(update_fields=["aggregation_config", "updated_at"])
    emit("aggregation.configured", {"executionId": str(execution.id), **config})
    return aggregation_status(execution_id=execution.id)


@transaction.atomic
def aggregation_trigger(*, execution_id, round_number: int | None, client_ids: list[str],
                        wait_for_all: bool) -> dict:
    """Ask a running execution to aggregate its next round from `client_ids` only (all sampled
    clients when empty), waiting for every one of them when `wait_for_all`."""
    execution = execution_get(execution_id, for_update=True)
    if execution.status != S.RUNNING:
        raise InvalidTransition(f"Execution is {execution.status}; aggregation runs only while it is running.")
    next_round = execution.current_round + 1
    if round_number is not None and round_number != next_round:
        raise AggregationError(f"Only the next round ({next_round}) can be triggered.",
                               details={"nextRound": next_round, "requested": round_number})
    trigger = {"round": next_round, "clients": client_ids, "waitForAll": wait_for_all}
    execution.aggregation_config = {**execution.aggregation_config, "trigger": trigger}
    execution.save(update_fields=["aggregation_config", "updated_at"])
    emit("aggregation.triggered", {"executionId": str(execution.id), **trigger})
    return {"executionId": str(execution.id), "trigger": trigger}


def aggregated_model_export(*, execution_id, round_number, fmt: str):
    from ..artifacts import load_arrays
    from ..export import FormatUnavailable, ModelSpecMismatch, export_model

    execution = execution_get(execution_id)
    models = AggregatedModel.objects.filter(execution=execution)
    if round_number in (None, ""):
        model = models.filter(round__accepted=True).order_by("-round_number").first()
    else:
        try:
            model = models.filter(round_number=int(round_number)).first()
        except ValueError:
            raise DomainError("round must be an integer", code="VALIDATION_ERROR", status=422)
    if model is None:
        raise RoundNotFound("No aggregated model for that round yet.", details={"round": round_number})
    arrays = load_arrays(settings.FEDPLANE_ARTIFACT_ROOT, model.artifact_path, expected_sha256=model.sha256)
    try:
        exported = export_model(arrays, model.metadata.get("modelSpec", {}), fmt)
    except FormatUnavailable as exc:
        raise DomainError(str(exc), code="FL006", status=422,
                          details={"format": fmt, "available": list(exc.available)}) from exc
    return exported, model
