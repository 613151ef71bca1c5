"""Celery tasks of the multi-region app: small, idempotent, loading by id, calling a service."""
from __future__ import annotations

from celery import shared_task
from django.conf import settings

from .services import deployments, failover, health, replication, serving

__all__ = ["replicate_target", "run_failover", "run_deployment", "probe_regions", "run_async_prediction"]


@shared_task(name="regions.replicate_target", bind=True, acks_late=True, reject_on_worker_lost=True,
             autoretry_for=(replication.TransientReplicationError,), retry_backoff=1,
             retry_backoff_max=settings.REGIONS_REPLICATION_BACKOFF_MAX, retry_jitter=True,
             max_retries=settings.REGIONS_REPLICATION_MAX_RETRIES)
def replicate_target(self, target_id: int) -> str:
    """Copy one replication target; transient failures (I/O, digest mismatch) retry with backoff."""
    return replication.replicate_target(target_id, final_attempt=self.request.retries >= self.max_retries)


@shared_task(name="regions.run_failover", acks_late=True, reject_on_worker_lost=True)
def run_failover(failover_id: str) -> str:
    """Drain the failed-over region within its timeout, then complete the failover."""
    return failover.failover_drain(failover_id=failover_id)


@shared_task(name="regions.run_deployment", acks_late=True, reject_on_worker_lost=True)
def run_deployment(deployment_id: str) -> str:
    """Roll a deployment region by region, validating each, rolling back on failure."""
    return deployments.deployment_run(deployment_id=deployment_id)


@shared_task(name="regions.probe_regions")
def probe_regions() -> dict[str, str]:
    """One probe of every region (schedule it with celery beat; GET /health also probes)."""
    return {name: report["status"] for name, report in health.probe_all().items()}


@shared_task(name="regions.run_async_prediction", acks_late=True, reject_on_worker_lost=True)
def run_async_prediction(prediction_id: str) -> str:
    return serving.async_prediction_run(prediction_id=prediction_id)
