"""Find executions whose worker died and hand them to a live worker.

A running execution's task writes a heartbeat every few seconds. One that has been
silent longer than STALE_AFTER is requeued: the task's claim then resumes it from
its last checkpoint, or fails it with FL003 after too many attempts. Workers run the
sweep at start and then periodically (apps.py), so nothing stays "running" forever.
"""
from __future__ import annotations

import logging

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ..choices import ExecutionStatus as S
from ..models import TrainingExecution
from .runner import STALE_AFTER

__all__ = ["recover_stale"]

log = logging.getLogger(__name__)


def recover_stale() -> list[str]:
    from ..tasks import run_execution

    cutoff = timezone.now() - STALE_AFTER
    stale = TrainingExecution.objects.filter(status__in=(S.RUNNING, S.STOPPING)).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)).values_list("pk", flat=True)
    requeued = []
    for execution_id in stale:
        log.warning("execution %s has a silent worker; requeueing it", execution_id)
        run_execution.apply_async(args=[str(execution_id)], queue=settings.FLCORE_QUEUE)
        requeued.append(str(execution_id))
    return requeued
