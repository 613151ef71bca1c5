"""The execution state machine: allowed transitions in one table, enforced in one place."""
from __future__ import annotations

from django.utils import timezone

from fedplane.events.services import emit

from ..choices import ExecutionStatus as S, RoundStatus
from ..errors import InvalidTransition
from ..models import TrainingExecution, TrainingRound

__all__ = ["ALLOWED", "transition"]

ALLOWED: dict[str, set[str]] = {
    S.QUEUED: {S.RUNNING, S.STOPPED, S.FAILED},
    S.RUNNING: {S.RUNNING, S.STOPPING, S.STOPPED, S.COMPLETED, S.FAILED},
    S.STOPPING: {S.STOPPED, S.COMPLETED, S.FAILED},
    S.STOPPED: {S.QUEUED},
    S.FAILED: {S.QUEUED},
    S.COMPLETED: {S.QUEUED},  # resume from an earlier round's checkpoint
}

# The seed's event for entering each state (None: no event of its own).
EVENT_FOR = {
    S.RUNNING: "execution.started",
    S.COMPLETED: "execution.completed",
    S.FAILED: "execution.failed",
    S.STOPPED: "execution.stopped",
    S.QUEUED: "execution.queued",
    S.STOPPING: "execution.stopping",
}


def transition(execution: TrainingExecution, to: str, *, data: dict | None = None,
               error_code: str = "", error_message: str = "", error_details: dict | None = None,
               save_fields: tuple[str, ...] = ()) -> None:
    """Move `execution` to `to`, save, and emit the matching event in the same transaction.

    The caller holds the row (select_for_update) inside `transaction.atomic()`. A failure closes
    the round it interrupted (else it would stay `collecting`, without `completedAt`, forever).
    """
    if to not in ALLOWED.get(execution.status, set()):
        raise InvalidTransition(f"Cannot go from {execution.status} to {to}.",
                                details={"status": execution.status, "requested": to})
    now = timezone.now()
    previous = execution.status
    execution.status = to
    fields = {"status", "updated_at", *save_fields}
    if to == S.RUNNING and execution.started_at is None:
        execution.started_at = now
        fields.add("started_at")
    if to == S.QUEUED:  # the queue's order: executions start in the order they were queued
        execution.queued_at = now
        fields.add("queued_at")
    if to in (S.COMPLETED, S.FAILED, S.STOPPED):
        execution.completed_at = now
        fields.add("completed_at")
    if error_code or to in (S.QUEUED, S.RUNNING):
        execution.error_code, execution.error_message = error_code, error_message
        execution.error_details = error_details or {}
        fields |= {"error_code", "error_message", "error_details"}
    execution.save(update_fields=sorted(fields))
    if to == S.FAILED:
        TrainingRound.objects.filter(
            execution=execution, status__in=(RoundStatus.PENDING, RoundStatus.COLLECTING, RoundStatus.AGGREGATING)
        ).update(status=RoundStatus.FAILED, completed_at=now)
    event = EVENT_FOR.get(to)
    if event and not (to == S.RUNNING and previous == S.RUNNING):
        payload = {"executionId": str(execution.id), "status": to, "previousStatus": previous,
                   "currentRound": execution.current_round, "totalRounds": execution.total_rounds, **(data or {})}
        if error_code:
            payload["error"] = {"code": error_code, "message": error_message,
                                **({"details": error_details} if error_details else {})}
        emit(event, payload, severity="warning" if to == S.STOPPED and error_code else None)
