"""Aggregation status, configuration, manual triggers and model export."""
from __future__ import annotations

from django.conf import settings
from django.db import transaction

from fedplane.api.errors import DomainError
from fedplane.events.services import emit

from ..choices import Algorithm, ExecutionStatus as S
from ..errors import AggregationError, InvalidTransition, PrivacyViolation, RoundNotFound
from ..models import AggregatedModel, FLClient
from ..runtime.records import RoundDirective
from .executions import execution_get
from .strategy_options import check_strategy
from .training_plan import round_settings_of

__all__ = ["aggregation_status", "aggregation_configure", "aggregation_trigger", "trigger_take",
           "aggregated_model_export"]


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
        "roundSettings": _round_settings(execution),
        "currentRound": execution.current_round,
        "totalRounds": execution.total_rounds,
        "pendingTrigger": config.get("trigger"),
        "lastAggregation": None if last is None else {
            "modelId": str(last.pk), "round": last.round_number, "sha256": last.sha256, "sizeBytes": last.size_bytes,
            "accepted": last.metadata.get("accepted", True), "performance": last.performance,
            "createdAt": last.created_at},
    }


def _round_settings(execution) -> dict:
    settings_now = round_settings_of(execution.config, execution.aggregation_config)
    return {"roundTimeoutSeconds": settings_now.timeout,
            "minResponders": settings_now.min_responders or execution.min_clients,
            "acceptedFailureFraction": settings_now.accepted_failure_fraction}


@transaction.atomic
def aggregation_configure(*, execution_id, weights: str | None = None, strategy: str | None = None,
                          validation: dict | None = None, **round_settings) -> dict:
    """Store the aggregation settings; a running execution applies validation and the round
    settings (roundTimeoutSeconds, minResponders, acceptedFailureFraction) from its next round,
    weights and strategy from its next start or resume."""
    execution = execution_get(execution_id, for_update=True)
    if strategy and strategy not in (*Algorithm.values, "custom", *settings.FLCORE_STRATEGY_PLUGINS):
        raise AggregationError(f"unknown strategy {strategy!r}", details={"strategy": strategy})
    if strategy and strategy != "custom":
        _check_switch(execution, strategy)
    if validation and validation.get("enabled") and validation.get("threshold") is None:
        raise DomainError("validation.threshold is required when validation is enabled",
                          code="VALIDATION_ERROR", status=422)
    config = {**execution.aggregation_config}
    if weights:
        config["weights"] = weights
    if round_settings:
        config["roundSettings"] = {**config.get("roundSettings", {}), **round_settings}
    if strategy and strategy != "custom":
        config["strategy"] = strategy
    if validation is not None:
        config["validation"] = validation
    execution.aggregation_config = config
    execution.save(update_fields=["aggregation_config", "updated_at"])
    emit("aggregation.configured", {"executionId": str(execution.id), **config})
    return aggregation_status(execution_id=execution.id)


def _check_switch(execution, strategy: str) -> None:
    """The execution's options and clients must suit the strategy it switches to (FL004 otherwise)."""
    try:
        check_strategy(strategy, execution.config)
    except DomainError as err:
        raise AggregationError(f"cannot switch to {strategy}: {err.message}",
                               details={"strategy": strategy, **err.details}) from err
    privacy = execution.privacy_config
    if privacy.get("differential_privacy") or privacy.get("secure_aggregation") or \
            (privacy.get("homomorphicEncryption") or {}).get("enabled"):
        if strategy not in ("fedavg", "fedprox"):
            raise PrivacyViolation("differential privacy, secure aggregation and homomorphic encryption need "
                                   "fedavg or fedprox", details={"strategy": strategy})


@transaction.atomic
def aggregation_trigger(*, execution_id, round_number: int | None, client_ids: list[str],
                        wait_for_all: bool) -> dict:
    """Ask a running execution to aggregate its next round from `client_ids` only (all sampled
    clients when empty), waiting for every one of them when `wait_for_all`."""
    execution = execution_get(execution_id, for_update=True)
    client_ids = list(dict.fromkeys(client_ids))
    # What the request asks is checked first (422), then whether the execution is in a state to do it
    # (409): a bad body is the caller's to fix whatever the execution's state.
    if execution.privacy_config.get("differential_privacy"):
        raise PrivacyViolation("A manual trigger changes how many clients a round samples, which the "
                               "differential-privacy noise is calibrated for.", details={"executionId": str(execution.id)})
    if execution.privacy_config.get("secure_aggregation") and 0 < len(client_ids) < 3:
        raise PrivacyViolation("A secure-aggregation round needs at least 3 clients.",
                               details={"clients": client_ids})
    _check_trigger_clients(execution, client_ids)
    if round_number is not None and round_number > execution.total_rounds:
        raise AggregationError(f"The execution has {execution.total_rounds} rounds.",
                               details={"totalRounds": execution.total_rounds, "requested": round_number})
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


def _check_trigger_clients(execution, client_ids: list[str]) -> None:
    if not client_ids:
        return
    known = {str(pk) for pk in FLClient.objects.filter(pk__in=client_ids).values_list("pk", flat=True)}
    assigned = {str(pk) for pk in execution.assignments.values_list("client_id", flat=True)}
    outside = sorted(c for c in client_ids if c not in known or (assigned and c not in assigned))
    if outside:
        raise AggregationError("Some clients are not registered or not assigned to this execution.",
                               details={"clients": outside})


def trigger_take(execution_id, round_number: int) -> RoundDirective | None:
    """The pending trigger, if it is due at `round_number`: consumed and reported as applied.

    A trigger asks for the round after the last completed one; when that round was
    already under way it applies to the next round that starts.
    """
    with transaction.atomic():
        execution = execution_get(execution_id, for_update=True)
        trigger = execution.aggregation_config.get("trigger")
        if not trigger or trigger.get("round", 0) > round_number:
            return None
        execution.aggregation_config = {k: v for k, v in execution.aggregation_config.items() if k != "trigger"}
        execution.save(update_fields=["aggregation_config", "updated_at"])
        emit("aggregation.trigger_applied", {"executionId": str(execution.id), "round": round_number,
                                             "requestedRound": trigger.get("round"),
                                             "clients": trigger.get("clients", []),
                                             "waitForAll": trigger.get("waitForAll", False)})
    # Fewer than minClients is allowed: aggregating a chosen few is what a trigger is for.
    client_ids = frozenset(str(c) for c in trigger.get("clients") or []) or None
    return RoundDirective(client_ids=client_ids, wait_for_all=bool(trigger.get("waitForAll")))


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
    from .encryption import refuse_if_encrypted
    refuse_if_encrypted(execution, "Downloading the aggregated model")
    arrays = load_arrays(settings.FEDPLANE_ARTIFACT_ROOT, model.artifact_path, expected_sha256=model.sha256)
    try:
        exported = export_model(arrays, model.metadata.get("modelSpec", {}), fmt)
    except FormatUnavailable as exc:
        raise DomainError(str(exc), code="FL006", status=422,
                          details={"format": fmt, "available": list(exc.available)}) from exc
    return exported, model
