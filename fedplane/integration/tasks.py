"""Celery tasks of the integration layer: small, idempotent, loading by id, calling a service."""
from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

from .services import deploy

__all__ = ["advance_deployment"]

log = logging.getLogger(__name__)


@shared_task(name="integration.advance_deployment", bind=True, acks_late=True, reject_on_worker_lost=True,
             autoretry_for=(OperationalError,), retry_backoff=1, retry_jitter=True, max_retries=5)
def advance_deployment(self, deployment_id: str) -> float | None:
    """One look at a unified deployment; the service queues the next look while one is needed.

    A busy database retries (same task id, so it stays the deployment's task); any other error
    is recorded on the deployment, which then fails (or rolls back) instead of hanging."""
    try:
        return deploy.deployment_advance(deployment_id, task_id=self.request.id)
    except OperationalError:
        raise
    except Exception as exc:
        log.exception("unified deployment %s: step failed", deployment_id)
        deploy.deployment_abort(deployment_id, message=f"{type(exc).__name__}: {exc}")
        raise
