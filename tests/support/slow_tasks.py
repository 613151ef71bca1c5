"""A Celery task for broker-outage tests: it marks its start, waits, and marks its end in files,
so a test sees it run without a result backend (`celery worker -I tests.support.slow_tasks`)."""
from __future__ import annotations

import time
from pathlib import Path

from celery import shared_task

__all__ = ["hold"]


@shared_task(name="tests.hold", ignore_result=True, acks_late=True)
def hold(seconds: float, marker: str) -> None:
    Path(f"{marker}.started").touch()
    time.sleep(seconds)  # the work a broker outage happens in the middle of
    Path(f"{marker}.done").touch()
