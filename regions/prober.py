"""A thread in each Celery worker's main process that probes the regions on a schedule.

Without it regions are probed only when someone reads GET /health or a forwarded request
fails; with it, a region that dies while nobody is looking is still found down and,
after REGIONS_FAILOVER_AFTER failed probes in a row, failed over automatically. Several
workers share the work: a probe round runs only when the last one is older than
REGIONS_PROBE_INTERVAL (the same rule GET /health follows).
"""
from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections

__all__ = ["probe_if_due", "start_prober"]

log = logging.getLogger(__name__)


def probe_if_due() -> bool:
    """One scheduled round: probe every region if the last probes are stale. True if it probed."""
    from datetime import timedelta

    from django.utils import timezone

    from .models import Region
    from .services.health import probe_all

    stale = timezone.now() - timedelta(seconds=settings.REGIONS_PROBE_INTERVAL)
    regions = Region.objects.only("last_probe_at")
    if not any(r.last_probe_at is None or r.last_probe_at < stale for r in regions):
        return False
    probe_all()
    return True


def _loop(period: float) -> None:
    while True:
        try:
            close_old_connections()
            probe_if_due()
        except Exception:  # a failed round is retried next period; the failure is logged
            log.exception("scheduled region probe failed")
        time.sleep(period)


def start_prober(sender=None, **kwargs) -> None:
    period = settings.REGIONS_BACKGROUND_PROBE_SECONDS
    if period > 0:
        threading.Thread(target=_loop, args=(period,), daemon=True, name="regions-prober").start()
