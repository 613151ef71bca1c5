"""Combined health of every part the platform depends on: GET /integration/health.

Each component answers {status, latencyMs, detail}; status is healthy | degraded | down |
unknown (nothing to judge by). The database, broker and channel layer are probed by the
same checks as /readyz; workers are pinged through the broker and cross-checked against
the heartbeats running executions record; each running execution's SuperLink gets a TCP
connect; regions and module endpoints report what their own apps last measured (regions
are re-probed only when asked: their probes take seconds).
"""
from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Callable

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from fedplane.ops.checks import run_checks
from federation_registry.choices import Health, ModuleStatus
from federation_registry.models import Application
from flcore.choices import ExecutionStatus
from flcore.models import TrainingExecution
from flcore.services.runner import STALE_AFTER
from regions.models import Region
from regions.services import health as region_health

__all__ = ["HEALTHY", "DEGRADED", "DOWN", "UNKNOWN", "combined_health", "rollup"]

HEALTHY, DEGRADED, DOWN, UNKNOWN = "healthy", "degraded", "down", "unknown"
_APP_HEALTH = {Health.HEALTHY: HEALTHY, Health.WARNING: DEGRADED, Health.CRITICAL: DOWN}
_LIVE = (ExecutionStatus.RUNNING, ExecutionStatus.STOPPING)


def rollup(statuses: list[str], *, empty: str = HEALTHY) -> str:
    """All healthy: healthy; all down: down; a mix: degraded. Unknown parts do not count."""
    if not statuses:
        return empty
    known = [s for s in statuses if s != UNKNOWN]
    if not known:
        return UNKNOWN
    if all(s == HEALTHY for s in known):
        return HEALTHY
    if all(s == DOWN for s in known):
        return DOWN
    return DEGRADED


def _component(status: str, started: float, **detail: Any) -> dict:
    return {"status": status, "latencyMs": round((time.perf_counter() - started) * 1000, 2), "detail": detail}


def _ping_workers(timeout: float) -> set[str]:
    """Names of the Celery workers that answer a broadcast ping within `timeout`."""
    from fedplane.celery import app

    return {name for reply in app.control.ping(timeout=timeout) or [] for name in reply}


def _tcp_connect(address: str, timeout: float) -> dict:
    """Does something accept connections at host:port? (A SuperLink that is up does.)"""
    host, _, port = address.rpartition(":")
    started = time.perf_counter()
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as exc:
        return {"address": address, "status": DOWN, "latencyMs": None, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"address": address, "status": HEALTHY, "latencyMs": round((time.perf_counter() - started) * 1000, 2)}


def _workers(running: list[dict], ping: Callable[[], set[str]] | None, started: float) -> dict:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return _component(HEALTHY, started, mode="eager", alive=[], staleExecutions=[])
    fresh_after = timezone.now() - STALE_AFTER
    beating = {r["worker"] for r in running if r["worker"] and r["heartbeat_at"] and r["heartbeat_at"] >= fresh_after}
    stale = [str(r["id"]) for r in running if not r["heartbeat_at"] or r["heartbeat_at"] < fresh_after]
    answered, error = set(), ""
    if ping is not None:
        try:
            answered = ping()
        except (BrokerError, OSError, TimeoutError) as exc:
            ping, error = None, f"{type(exc).__name__}: {exc}"[:300]
    alive = sorted(answered | beating)
    if ping is not None and not alive:
        status = DOWN  # asked the broker and nobody answered: queued work will wait
    elif stale:
        status = DEGRADED  # an execution's worker went silent; the sweeper will requeue it
    elif alive:
        status = HEALTHY
    else:
        status = UNKNOWN  # not pinged and nothing running: nothing to judge by
    return _component(status, started, mode="ping" if ping is not None else "heartbeats",
                      alive=[{"name": n, "answeredPing": n in answered, "heartbeat": n in beating} for n in alive],
                      runningExecutions=len(running), staleExecutions=stale, **({"error": error} if error else {}))


def _flower_servers(running: list[dict], probes: dict[str, dict], started: float) -> dict:
    servers = []
    for address, probe in probes.items():
        executions = [str(r["id"]) for r in running if r["superlink_address"] == address]
        servers.append({**probe, "executions": executions})
    # A simulation runs on Ray inside its worker: it has no SuperLink to be missing.
    missing = [str(r["id"]) for r in running if not r["superlink_address"] and r["runtime"] != "simulation"]
    statuses = [s["status"] for s in servers] + [UNKNOWN] * len(missing)
    component = _component(rollup(statuses), started, servers=servers, executionsWithoutServer=missing)
    component["latencyMs"] = max((s["latencyMs"] or 0 for s in servers), default=0.0)
    return component


def _regions(refresh: bool, started: float) -> dict:
    if refresh:
        region_health.probe_all()
    stale_before = timezone.now() - timedelta(seconds=max(60.0, 3 * settings.REGIONS_PROBE_INTERVAL))
    items = [{"name": r.name, "status": r.health_status, "routing": r.routing_status,
              "latencyMs": r.last_latency_ms, "errorRate": r.last_error_rate,
              "consecutiveFailures": r.consecutive_failures, "lastProbeAt": r.last_probe_at,
              "stale": r.last_probe_at is None or r.last_probe_at < stale_before}
             for r in Region.objects.order_by("priority", "name")]
    return _component(rollup([i["status"] for i in items]), started, regions=items)


def _modules(started: float) -> dict:
    apps = list(Application.objects.annotate(
        module_count=Count("modules"),
        modules_in_error=Count("modules", filter=Q(modules__status=ModuleStatus.ERROR)),
    ).values("id", "name", "status", "health", "module_count", "modules_in_error"))
    by_health = {h: sum(1 for a in apps if a["health"] == h) for h in Health.values}
    unhealthy = [{"id": str(a["id"]), "name": a["name"], "health": a["health"], "modules": a["module_count"],
                  "modulesInError": a["modules_in_error"]}
                 for a in apps if a["health"] != Health.HEALTHY or a["modules_in_error"]]
    statuses = [_APP_HEALTH.get(a["health"], UNKNOWN) for a in apps]
    # A module in error while its application's stored health still reads healthy is still worth a flag.
    if any(a["modules_in_error"] and a["health"] == Health.HEALTHY for a in apps) and HEALTHY in statuses:
        statuses.append(DEGRADED)
    return _component(rollup(statuses), started, applications=len(apps), byHealth=by_health,
                      modules=sum(a["module_count"] for a in apps),
                      modulesInError=sum(a["modules_in_error"] for a in apps), unhealthy=unhealthy)


def combined_health(*, refresh_regions: bool = False) -> dict:
    """The body of GET /integration/health; `status` is down only when the database is."""
    _, checks = run_checks()
    components: dict[str, dict] = {
        name: {"status": HEALTHY if c["status"] == "up" else DOWN, "latencyMs": c["latencyMs"],
               "detail": {"error": c["error"]} if "error" in c else {}}
        for name, c in checks.items()}
    db_up = components["database"]["status"] == HEALTHY
    if not db_up:
        for name in ("workers", "flowerServers", "regions", "modules"):
            components[name] = {"status": UNKNOWN, "latencyMs": None,
                                "detail": {"error": "the database is unavailable"}}
    else:
        started = time.perf_counter()
        running = list(TrainingExecution.objects.filter(status__in=_LIVE).order_by("created_at").values(
            "id", "worker", "heartbeat_at", "superlink_address", "runtime"))
        addresses = sorted({r["superlink_address"] for r in running if r["superlink_address"]})
        ping_timeout = settings.INTEGRATION_WORKER_PING_TIMEOUT
        connect_timeout = settings.INTEGRATION_CONNECT_TIMEOUT
        can_ping = ping_timeout > 0 and components["broker"]["status"] == HEALTHY \
            and not settings.CELERY_TASK_ALWAYS_EAGER
        # The network waits (ping, connects) overlap each other and the database reads below.
        with ThreadPoolExecutor(max_workers=4) as pool:
            pinged = pool.submit(_ping_workers, ping_timeout) if can_ping else None
            connects = {a: pool.submit(_tcp_connect, a, connect_timeout) for a in addresses}
            components["regions"] = _regions(refresh_regions, time.perf_counter())
            components["modules"] = _modules(time.perf_counter())
            components["flowerServers"] = _flower_servers(
                running, {a: f.result() for a, f in connects.items()}, started)
            components["workers"] = _workers(running, pinged.result if pinged else None, started)
    statuses = [c["status"] for c in components.values()]
    if not db_up:
        overall = DOWN
    elif any(s in (DOWN, DEGRADED) for s in statuses):
        overall = DEGRADED
    else:
        overall = HEALTHY
    return {"status": overall, "components": components, "timestamp": timezone.now()}
