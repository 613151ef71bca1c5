"""Celery tasks of federated learning: small, idempotent, loading by id."""
from __future__ import annotations

from celery import shared_task

from .services import runner, sweep

__all__ = ["run_execution", "recover_stale_executions"]


@shared_task(name="flcore.run_execution", bind=True, acks_late=True, reject_on_worker_lost=True)
def run_execution(self, execution_id: str) -> str | None:
    """Run an execution on Flower to its end (or resume it after a lost worker)."""
    return runner.execution_run(execution_id=execution_id, task_id=self.request.id or "",
                                worker=self.request.hostname or "")


@shared_task(name="flcore.recover_stale_executions")
def recover_stale_executions() -> list[str]:
    """Requeue executions whose worker went silent; see services/sweep.py."""
    return sweep.recover_stale()
