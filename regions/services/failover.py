"""Failover: take a region out of rotation, drain its in-flight requests, route to a target; undo.

While a failover is in progress or completed, the router skips the source region
and gives its target the source's place in the order (routing.py). The drain
waits until the source reports no request in flight, or `drain_timeout_seconds`.
"""
from __future__ import annotations

import time

from django.db import transaction
from django.utils import timezone

from fedplane.events.services import emit

from ..choices import FailoverStatus, RoutingStatus
from ..errors import FailoverNotFound, InvalidTransition
from ..models import Failover, Region
from . import inflight, routing, transitions
from .regions import region_get

__all__ = ["failover_start", "failover_get", "failover_drain", "failover_rollback", "POLL_SECONDS"]

POLL_SECONDS = 0.1


def failover_get(failover_id: str) -> Failover:
    try:
        return Failover.objects.select_related("from_region", "to_region").get(pk=failover_id)
    except Failover.DoesNotExist:
        raise FailoverNotFound(f"Failover '{failover_id}' not found.", details={"failover_id": failover_id}) from None


def failover_start(*, from_region: str, to_region: str, reason: str = "", drain_timeout_seconds: float = 300,
                   automatic: bool = False) -> Failover:
    from ..tasks import run_failover

    source, target = region_get(from_region), region_get(to_region)
    if source.pk == target.pk:
        raise InvalidTransition("A region cannot fail over to itself.")
    with transaction.atomic():
        source = Region.objects.select_for_update().get(pk=source.pk)
        if source.routing_status != RoutingStatus.ACTIVE:
            raise InvalidTransition(f"Region {source.name} is already {source.routing_status}.",
                                    details={"region": source.name, "routing": source.routing_status})
        if target.routing_status != RoutingStatus.ACTIVE:
            raise InvalidTransition(f"Target region {target.name} is not in rotation.",
                                    details={"region": target.name, "routing": target.routing_status})
        source.routing_status = RoutingStatus.DRAINING
        source.save(update_fields=["routing_status"])
        transaction.on_commit(routing.forget)
        row = Failover.objects.create(from_region=source, to_region=target, reason=reason, automatic=automatic,
                                      drain_timeout_seconds=drain_timeout_seconds)
        emit("failover.started", {"failoverId": row.id, "fromRegion": source.name, "toRegion": target.name,
                                  "reason": reason, "automatic": automatic}, severity="warning")
        if drain_timeout_seconds <= 0:
            _complete(row, drained=False, inflight_left=None)
        else:
            transaction.on_commit(lambda: run_failover.delay(row.id))
    return row


def _inflight(region: Region) -> int | None:
    if not region.endpoint:
        return inflight.count(region.name)
    from .health import probe_region

    probe = probe_region(region)
    return probe.inflight if probe.ok else None  # unreachable: nothing left to wait for


def failover_drain(*, failover_id: str) -> str:
    row = failover_get(failover_id)
    if row.status != FailoverStatus.IN_PROGRESS:
        return row.status  # completed, rolled back meanwhile, or a duplicate delivery
    deadline = time.monotonic() + row.drain_timeout_seconds
    first = left = _inflight(row.from_region)
    Failover.objects.filter(pk=row.pk).update(inflight_at_start=first)
    while left and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        if not Failover.objects.filter(pk=row.pk, status=FailoverStatus.IN_PROGRESS).exists():
            return FailoverStatus.ROLLED_BACK
        left = _inflight(row.from_region)
    with transaction.atomic():
        row = Failover.objects.select_for_update().select_related("from_region", "to_region").get(pk=row.pk)
        if row.status != FailoverStatus.IN_PROGRESS:
            return row.status
        _complete(row, drained=not left, inflight_left=left)
    return row.status


def _complete(row: Failover, *, drained: bool, inflight_left: int | None) -> None:
    Region.objects.filter(pk=row.from_region_id, routing_status=RoutingStatus.DRAINING) \
        .update(routing_status=RoutingStatus.FAILED_OVER)
    transaction.on_commit(routing.forget)
    row.drained, row.inflight_at_end, row.completed_at = drained, inflight_left, timezone.now()
    transitions.move("failover", row, FailoverStatus.COMPLETED, fields=("drained", "inflight_at_end", "completed_at"),
                     event="failover.completed",
                     data={"failoverId": row.id, "fromRegion": row.from_region.name, "toRegion": row.to_region.name,
                           "drained": drained, "inflightLeft": inflight_left})


@transaction.atomic
def failover_rollback(*, failover_id: str) -> Failover:
    row = failover_get(failover_id)
    row = Failover.objects.select_for_update().select_related("from_region", "to_region").get(pk=row.pk)
    row.rolled_back_at = row.completed_at = timezone.now()
    transitions.move("failover", row, FailoverStatus.ROLLED_BACK, fields=("rolled_back_at", "completed_at"),
                     event="failover.rolled_back",
                     data={"failoverId": row.id, "fromRegion": row.from_region.name, "toRegion": row.to_region.name})
    Region.objects.filter(pk=row.from_region_id).update(routing_status=RoutingStatus.ACTIVE, consecutive_failures=0)
    transaction.on_commit(routing.forget)
    return row
