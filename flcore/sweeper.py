"""A thread in each Celery worker's main process that recovers executions of dead workers."""
from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import close_old_connections

__all__ = ["start_sweeper"]

log = logging.getLogger(__name__)


def _loop(stop: threading.Event) -> None:
    from .services.sweep import recover_stale

    while True:
        try:
            close_old_connections()
            recover_stale()
        except Exception:  # a failed sweep is retried next period; the failure is logged
            log.exception("stale-execution sweep failed")
        if stop.wait(settings.FLCORE_SWEEP_SECONDS):
            return


def start_sweeper(sender=None, **kwargs) -> None:
    threading.Thread(target=_loop, args=(threading.Event(),), daemon=True, name="flcore-sweeper").start()
