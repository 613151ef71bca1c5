"""The WebSocket `stream` action's "metrics" type: an execution's live figures."""
from __future__ import annotations

from channels.db import database_sync_to_async

from fedplane.api.scopes import Scope
from fedplane.events.streams import StreamError, register_stream

__all__ = ["register_streams"]


@database_sync_to_async
def _snapshot(execution_id: str) -> dict:
    from .models import TrainingExecution

    try:
        execution = TrainingExecution.objects.get(pk=execution_id)
    except (TrainingExecution.DoesNotExist, ValueError, TypeError):
        raise StreamError(f"execution {execution_id} not found")
    return {"executionId": str(execution.id), "status": execution.status, "currentRound": execution.current_round,
            "totalRounds": execution.total_rounds, "participatingClients": execution.participating_clients,
            "metrics": execution.metrics, "privacyBudget": execution.privacy_ledger or None}


async def metrics_stream(params: dict, principal) -> dict:
    return await _snapshot(str(params.get("executionId", "")))


def register_streams() -> None:
    register_stream("metrics", metrics_stream, scope=Scope.FL_METRICS_VIEW)
