"""Which region answers a request, and with which version.

A region is eligible when failover has not taken it out of rotation, its last
probe did not find it down, and it holds a verified replica of the version it
would serve. The process's own region goes first (no extra hop); then healthy
before unknown before degraded, then priority, then last probe latency. A failover
target takes its source's place in that order.

The inputs (the model row, its versions, regions, replicas, servings, failovers) are
read in six queries and kept per process for REGIONS_ROUTING_CACHE_SECONDS, so a
predict asks the database nothing; changes made by this process drop the cache at
once (`forget`), other processes' changes take effect within that time (and the
milliseconds one refresh takes: while one thread reads it anew, the others use the old one).
"""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings

from ..choices import FailoverStatus, HealthStatus, ReplicaStatus, RoutingStatus
from ..errors import NoHealthyRegion
from ..models import Failover, ModelVersion, RegisteredModel, Region, Replica, Serving

__all__ = ["Route", "routes_for", "model_routes", "cached_local_versions", "is_local", "forget"]

_HEALTH_RANK = {HealthStatus.HEALTHY: 0, HealthStatus.UNKNOWN: 1, HealthStatus.DEGRADED: 2, HealthStatus.DOWN: 3}


@dataclass(frozen=True)
class Route:
    region: Region
    version: ModelVersion
    variant: str  # "stable" or "canary"
    local: bool  # served by this process from the region's store, not forwarded


@dataclass
class _Snapshot:
    model: RegisteredModel
    regions: list[Region]
    ready: dict[int, set[int]]  # version id -> region ids holding a verified replica
    servings: dict[int, Serving]  # region id -> what it serves
    newest_first: list[ModelVersion]
    inherited: dict[int, list[Region]] = field(default_factory=dict)  # failover target id -> sources
    taken_at: float = 0.0


_snapshots: dict[str, _Snapshot] = {}  # by model name
_refreshing: set[str] = set()  # names a thread is reading anew
_lock = threading.Lock()


def forget() -> None:
    """Drop cached routing inputs (after a change this process made itself)."""
    with _lock:
        _snapshots.clear()


def is_local(region: Region) -> bool:
    """This process serves `region` itself: it is its region, or the region has no endpoint of its own."""
    return region.name == settings.FEDPLANE_REGION or not region.endpoint


def _usable(name: str, ttl: float, now: float) -> _Snapshot | None:
    """The cached snapshot of `name` if it may be used now (the caller holds `_lock`): younger than
    `ttl`, or up to twice that old while another thread reads it anew. Without the second case,
    every request in flight when it lapsed read it at once (a herd of connections and queries)."""
    cached = _snapshots.get(name)
    if cached is None:
        return None
    age = now - cached.taken_at
    return cached if age < ttl or (name in _refreshing and age < 2 * ttl) else None


def _snapshot(name: str, model: RegisteredModel | None = None) -> _Snapshot:
    ttl = settings.REGIONS_ROUTING_CACHE_SECONDS
    with _lock:
        cached = _usable(name, ttl, time.monotonic())
        if cached is not None:
            return cached
        _refreshing.add(name)
    try:
        return _read_snapshot(name, model, ttl)
    finally:
        with _lock:
            _refreshing.discard(name)


def _read_snapshot(name: str, model: RegisteredModel | None, ttl: float) -> _Snapshot:
    now = time.monotonic()
    if model is None:
        from .registry import model_get  # registry imports this module

        model = model_get(name)  # MODEL_NOT_FOUND; a miss is not cached
    regions = list(Region.objects.all())
    ready: dict[int, set[int]] = {}
    for version_id, region_id in Replica.objects.filter(version__model=model, status=ReplicaStatus.COMPLETED) \
            .values_list("version_id", "region_id"):
        ready.setdefault(version_id, set()).add(region_id)
    servings = {s.region_id: s for s in Serving.objects.filter(model=model).select_related(
        "version__model", "canary_version__model")}
    newest = list(model.versions.exclude(sha256="").select_related("model").order_by("-created_at", "-pk"))
    by_pk = {r.pk: r for r in regions}
    inherited: dict[int, list[Region]] = {}
    for source_id, target_id in Failover.objects.filter(
            status__in=(FailoverStatus.IN_PROGRESS, FailoverStatus.COMPLETED)).values_list("from_region", "to_region"):
        if source_id in by_pk:
            inherited.setdefault(target_id, []).append(by_pk[source_id])
    snap = _Snapshot(model, regions, ready, servings, newest, inherited, now)
    if ttl > 0:
        with _lock:
            _snapshots[name] = snap
    return snap


def _pick(snap: _Snapshot, region: Region, explicit: ModelVersion | None) -> tuple[ModelVersion, str] | None:
    if explicit is not None:
        return (explicit, "stable") if region.pk in snap.ready.get(explicit.pk, set()) else None
    serving = snap.servings.get(region.pk)
    if serving is not None:
        if serving.canary_version_id and serving.canary_percent and random.random() * 100 < serving.canary_percent \
                and region.pk in snap.ready.get(serving.canary_version_id, set()):
            return serving.canary_version, "canary"
        if region.pk in snap.ready.get(serving.version_id, set()):
            return serving.version, "stable"
        return None
    for version in snap.newest_first:  # no deployment yet: the newest version this region holds
        if region.pk in snap.ready.get(version.pk, set()):
            return version, "stable"
    return None


def routes_for(model: RegisteredModel, *, version: ModelVersion | None = None,
               only_region: str | None = None) -> list[Route]:
    """Eligible routes in order of preference; NoHealthyRegion when there is none."""
    return _routes(_snapshot(model.name, model), version, only_region)


def model_routes(model_name: str, *, version: str | None = None, only_region: str | None = None) -> list[Route]:
    """`routes_for` by name, the model and a pinned version read from the cache too (a predict's lookup)."""
    snap = _snapshot(model_name)
    row = None
    if version:
        row = next((v for v in snap.newest_first if v.version == version), None)
        if row is None:  # unknown (VERSION_NOT_FOUND), or no artifact yet: ask the registry
            from .registry import version_get

            row = version_get(model_name, version)
    return _routes(snap, row, only_region)


def cached_local_versions(model_name: str, version: str | None = None) -> tuple[Route, list[ModelVersion]] | None:
    """The route a request is served by here and every version it may be served with (a canary
    beside its stable), when the cache alone says so; None when answering needs the database (an
    old or no snapshot, an unknown version) or another region (the request would be forwarded)."""
    with _lock:
        snap = _usable(model_name, settings.REGIONS_ROUTING_CACHE_SECONDS, time.monotonic())
    if snap is None:
        return None
    explicit = None
    if version:
        explicit = next((v for v in snap.newest_first if v.version == version), None)
        if explicit is None:
            return None
    try:
        first = _routes(snap, explicit, None)[0]
    except NoHealthyRegion:
        return None
    if not first.local:
        return None
    serving = snap.servings.get(first.region.pk)
    if explicit is None and serving is not None and serving.canary_version_id and serving.canary_percent:
        return first, [serving.version, serving.canary_version]
    return first, [first.version]


def _routes(snap: _Snapshot, version: ModelVersion | None, only_region: str | None) -> list[Route]:
    routes: list[Route] = []
    for region in snap.regions:
        if only_region and region.name != only_region:
            continue
        if not only_region and (region.routing_status != RoutingStatus.ACTIVE
                                or region.health_status == HealthStatus.DOWN):
            continue
        picked = _pick(snap, region, version)
        if picked:
            routes.append(Route(region=region, version=picked[0], variant=picked[1], local=is_local(region)))
    if not routes:
        raise NoHealthyRegion(f"No healthy region serves model '{snap.model.name}'.",
                              details={"model_id": snap.model.name, "version": version.version if version else None})
    routes.sort(key=lambda r: min(_key(r.region, place) for place in [r.region, *snap.inherited.get(r.region.pk, [])]))
    return routes


def _key(region: Region, place: Region) -> tuple:
    """Sort key of `region` standing in the place (locality, priority) of `place`."""
    return (place.name != settings.FEDPLANE_REGION, _HEALTH_RANK.get(region.health_status, 1), place.priority,
            region.last_latency_ms or 0.0)
