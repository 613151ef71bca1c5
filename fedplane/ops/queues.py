"""Which Celery workers the embedded platform starts, and for which queues."""
from __future__ import annotations

from django.conf import settings

__all__ = ["worker_specs"]


def worker_specs(concurrency: int) -> list[tuple[str, str, int, list[str]]]:
    """(name, queues, concurrency, extra args) per worker.

    Flower keeps a process-global run identity, so each execution gets a fresh
    process: the federated-learning queue's worker recycles a child per task.
    """
    return [
        ("worker", "celery", 1, []),
        ("fl-worker", settings.FLCORE_QUEUE, concurrency, ["--max-tasks-per-child", "1"]),
    ]
