"""The queue of executions waiting for a worker slot: order, positions and estimated starts.

Reads only. A snapshot costs at most four queries however long the queue is; a list of
executions computes it once per response.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import F
from django.utils import timezone

from ..choices import ExecutionStatus as S, RoundStatus
from ..models import TrainingExecution, TrainingRound

__all__ = ["QueueEntry", "QueueSnapshot", "execution_queue", "RECENT_ROUNDS"]

RECENT_ROUNDS = 20  # the round history the estimate averages over
QUEUE_ORDER = (F("queued_at").asc(nulls_last=True), "created_at", "id")  # the order workers take them in
_OCCUPYING = (S.RUNNING, S.STOPPING)  # hold a worker slot


@dataclass(frozen=True)
class QueueEntry:
    execution_id: str
    position: int  # 1-based
    ahead: int
    queued_at: datetime | None
    rounds: int  # rounds it will run once started
    estimated_start_seconds: float | None  # None: no round history to estimate from
    estimated_start_at: datetime | None


@dataclass
class QueueSnapshot:
    entries: list[QueueEntry]
    running: int  # executions holding a worker slot now
    slots: int | None  # slots the estimate assumes; None when nothing waits (some may be free)
    round_seconds: float | None  # mean of the recent rounds
    _by_id: dict[str, QueueEntry] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {e.execution_id: e for e in self.entries}

    def entry(self, execution_id) -> QueueEntry | None:
        return self._by_id.get(str(execution_id))


def _round_seconds(row: dict) -> float | None:
    total = (row["timings"] or {}).get("total")
    if isinstance(total, (int, float)):
        return float(total)
    if row["completed_at"] and row["started_at"]:
        return (row["completed_at"] - row["started_at"]).total_seconds()
    return None


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _slot_free_in(running: list[dict], own_rounds: dict, recent: float, now: datetime) -> list[float]:
    """Seconds until each running execution ends: its remaining rounds at its own pace, less the
    time already spent on the round under way."""
    free = []
    for execution in running:
        own = own_rounds.get(execution["id"], [])
        pace = _mean(_round_seconds(r) for r in own) or recent
        remaining = execution["total_rounds"] - execution["current_round"]
        if execution["status"] == S.STOPPING:  # ends after the round under way
            remaining = min(remaining, 1)
        # Its last finished round, or its start (queued_at: a resumed one keeps its first started_at).
        progress = max([r["completed_at"] for r in own if r["completed_at"]]
                       + [t for t in (execution["started_at"], execution["queued_at"]) if t] or [now])
        free.append(max(0.0, remaining * pace - (now - progress).total_seconds()))
    return free


def execution_queue() -> QueueSnapshot:
    """Every queued execution in start order, with its position and estimated start."""
    now = timezone.now()
    queued = list(TrainingExecution.objects.filter(status=S.QUEUED).order_by(*QUEUE_ORDER).values(
        "id", "queued_at", "total_rounds", "resume_from_round"))
    running = list(TrainingExecution.objects.filter(status__in=_OCCUPYING).values(
        "id", "status", "total_rounds", "current_round", "started_at", "queued_at"))
    estimate = None
    recent = None
    if queued:
        finished = (RoundStatus.COMPLETED, RoundStatus.REJECTED)
        fields = ("execution_id", "timings", "started_at", "completed_at")
        rows = list(TrainingRound.objects.filter(status__in=finished, completed_at__isnull=False)
                    .order_by("-completed_at").values(*fields)[:RECENT_ROUNDS])
        # Running executions' own recent rounds, for their pace and their progress.
        own_rows = TrainingRound.objects.filter(
            execution_id__in=[e["id"] for e in running], status__in=finished,
            round_number__gt=F("execution__current_round") - RECENT_ROUNDS).values(*fields)
        own: dict = {}
        for row in own_rows:
            own.setdefault(row["execution_id"], []).append(row)
        recent = _mean(_round_seconds(r) for r in rows)
        if recent is not None:
            # Every slot is busy while anything waits; with none running, one slot is assumed.
            estimate = _slot_free_in(running, own, recent, now) or [0.0]
            heapq.heapify(estimate)
    entries = []
    for index, row in enumerate(queued):
        rounds = row["total_rounds"] - (row["resume_from_round"] or 0)
        start = None
        if estimate is not None:
            start = heapq.heappop(estimate)
            heapq.heappush(estimate, start + rounds * recent)
        entries.append(QueueEntry(
            execution_id=str(row["id"]), position=index + 1, ahead=index, queued_at=row["queued_at"], rounds=rounds,
            estimated_start_seconds=None if start is None else round(start, 1),
            estimated_start_at=None if start is None else now + timedelta(seconds=start)))
    return QueueSnapshot(entries=entries, running=len(running),
                         slots=max(1, len(running)) if queued else None,
                         round_seconds=None if recent is None else round(recent, 2))
