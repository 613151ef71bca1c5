"""Health of regions from real probes of each region's endpoint.

A probe is `GET {endpoint}/v2/health/ready` (a region without an endpoint is served
by this process: its probe checks that its store answers). A region is `down` when
its latest probe failed, `degraded` when its probe error rate over the last
REGIONS_PROBE_WINDOW probes or its median probe latency is above the thresholds, else `healthy`.
REGIONS_FAILOVER_AFTER consecutive failures start an automatic failover.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from fedplane.api.hosts import destination_refusal
from fedplane.events.services import emit

from ..choices import FailoverStatus, HealthStatus, RoutingStatus
from ..errors import InvalidTransition
from ..models import Failover, ProbeResult, Region
from ..stores import store_for
from .regions import endpoint_error
from .routing import forget

__all__ = ["Probe", "probe_region", "endpoint_refusal", "probe_all", "health_report", "note_failure", "status_of"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Probe:
    ok: bool
    latency_ms: float | None
    status_code: int | None = None
    inflight: int | None = None
    error: str = ""


def probe_region(region: Region) -> Probe:
    """One real probe (no database access: safe to run in a thread)."""
    started = time.perf_counter()
    if not region.endpoint:
        try:
            store_for(region.store_url).fs.ls(store_for(region.store_url).root, detail=False)
            return Probe(ok=True, latency_ms=(time.perf_counter() - started) * 1000)
        except FileNotFoundError:  # an empty store that has no folder yet answers too
            return Probe(ok=True, latency_ms=(time.perf_counter() - started) * 1000)
        except OSError as exc:
            return Probe(ok=False, latency_ms=None, error=f"store: {exc}"[:300])
    url = f"{region.endpoint}/v2/health/ready"
    refused = endpoint_refusal(url)
    if refused:  # never sent: the probe fails, so a region pointing there is found down and failed over
        return Probe(ok=False, latency_ms=None, error=f"refused: {refused}"[:300])
    try:
        response = httpx.get(url, timeout=settings.REGIONS_PROBE_TIMEOUT)
    except httpx.HTTPError as exc:
        return Probe(ok=False, latency_ms=None, error=f"{exc.__class__.__name__}: {exc}"[:300])
    latency = (time.perf_counter() - started) * 1000
    inflight = None
    if response.headers.get("content-type", "").startswith("application/json"):
        inflight = (response.json() or {}).get("inflight")
    return Probe(ok=response.status_code == 200, latency_ms=latency, status_code=response.status_code,
                 inflight=inflight, error="" if response.status_code == 200 else f"HTTP {response.status_code}")


def endpoint_refusal(url: str) -> str | None:
    """Checked before every probe (stored endpoints predate the rules, and a name can come to resolve to a
    link-local address): why `url` must not be requested, or None."""
    invalid = endpoint_error(url)
    if invalid:
        return invalid
    parts = urlsplit(url)
    return destination_refusal(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80),
                               allowed_hosts=settings.REGIONS_ENDPOINT_ALLOWED_HOSTS,
                               allow_setting="REGIONS_ENDPOINT_ALLOWED_HOSTS")


def status_of(region: Region, error_rate: float, typical_latency_ms: float | None) -> str:
    if region.consecutive_failures:
        return HealthStatus.DOWN
    if error_rate > settings.REGIONS_DEGRADED_ERROR_RATE or \
            (typical_latency_ms or 0) > settings.REGIONS_DEGRADED_LATENCY_MS:
        return HealthStatus.DEGRADED
    return HealthStatus.HEALTHY


def _record(region: Region, probe: Probe) -> Region:
    with transaction.atomic():
        region = Region.objects.select_for_update().get(pk=region.pk)
        ProbeResult.objects.create(region=region, ok=probe.ok, latency_ms=probe.latency_ms,
                                   status_code=probe.status_code, inflight=probe.inflight, error=probe.error)
        window = list(region.probes.order_by("-at").values_list("ok", "latency_ms")[:settings.REGIONS_PROBE_WINDOW])
        error_rate = sum(1 for ok, _ in window if not ok) / len(window)
        # The median, not the last probe: one slow answer (a cold process) is not a degraded region.
        latencies = sorted(latency for ok, latency in window if ok and latency is not None)
        typical = latencies[len(latencies) // 2] if latencies else None
        before = region.health_status
        region.consecutive_failures = 0 if probe.ok else region.consecutive_failures + 1
        if probe.latency_ms is not None:
            region.last_latency_ms = probe.latency_ms
        region.last_error_rate, region.last_probe_at = error_rate, timezone.now()
        region.health_status = status_of(region, error_rate, typical)
        region.save(update_fields=["consecutive_failures", "last_latency_ms", "last_error_rate", "last_probe_at",
                                   "health_status"])
        if region.health_status != before:
            transaction.on_commit(forget)
            emit(f"region.{region.health_status}", {"region": region.name, "previous": before,
                                                    "error": probe.error},
                 severity="error" if region.health_status == HealthStatus.DOWN else None)
    _maybe_fail_over(region)
    return region


def note_failure(region: Region, error: str) -> None:
    """A request could not reach `region`: count it as a failed probe right away."""
    _record(region, Probe(ok=False, latency_ms=None, error=error[:300]))


def _maybe_fail_over(region: Region) -> None:
    threshold = settings.REGIONS_FAILOVER_AFTER
    if not threshold or region.consecutive_failures < threshold or region.routing_status != RoutingStatus.ACTIVE:
        return
    if Failover.objects.filter(from_region=region, status=FailoverStatus.IN_PROGRESS).exists():
        return
    target = Region.objects.exclude(pk=region.pk).filter(routing_status=RoutingStatus.ACTIVE) \
        .exclude(health_status=HealthStatus.DOWN).order_by("priority", "name").first()
    if target is None:
        return
    from .failover import failover_start

    try:
        failover_start(from_region=region.name, to_region=target.name, automatic=True, drain_timeout_seconds=0,
                       reason=f"automatic: {region.consecutive_failures} consecutive failed probes")
    except InvalidTransition:
        # Another process saw the same failures and failed the region over first (or the target
        # left rotation meanwhile): the request that noticed must not fail for it.
        log.info("automatic failover of %s already under way elsewhere", region.name)


def probe_all() -> dict[str, dict]:
    regions = list(Region.objects.all())
    if regions:
        with ThreadPoolExecutor(max_workers=min(16, len(regions))) as pool:
            probes = list(pool.map(probe_region, regions))
        for region, probe in zip(regions, probes):
            _record(region, probe)
    return _report(Region.objects.all())


def _report(regions) -> dict[str, dict]:
    return {r.name: {"status": r.health_status, "latency_ms": round(r.last_latency_ms, 3)
                     if r.last_latency_ms is not None else None,
                     "error_rate": r.last_error_rate, "routing": r.routing_status,
                     "consecutive_failures": r.consecutive_failures, "last_probe_at": r.last_probe_at}
            for r in regions}


def health_report(*, refresh: bool = False) -> dict:
    """The seed's GET /health body, probing first when the last probes are older than the interval."""
    stale = timezone.now() - timedelta(seconds=settings.REGIONS_PROBE_INTERVAL)
    regions = Region.objects.all()
    if refresh or any(r.last_probe_at is None or r.last_probe_at < stale for r in regions):
        report = probe_all()
    else:
        report = _report(regions)
    statuses = {r["status"] for r in report.values()}
    if not report or statuses == {HealthStatus.HEALTHY}:
        overall = HealthStatus.HEALTHY
    elif statuses == {HealthStatus.DOWN}:
        overall = HealthStatus.DOWN
    else:
        overall = HealthStatus.DEGRADED
    return {"status": overall, "regions": report, "timestamp": timezone.now()}
