"""Regions: create, read, update; the region this process serves; config sync."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from fedplane.api.errors import Conflict, DomainError, ErrorCode
from fedplane.api.hosts import http_url_error
from fedplane.events.services import emit

from ..errors import RegionNotFound
from ..models import Region
from ..stores import default_store_url, store_url_error

__all__ = ["region_get", "region_create", "region_update", "local_region", "regions_by_names",
           "region_config_set", "region_config_ack", "endpoint_error"]

_PRICE_FIELDS = {"compute_second": "price_compute_second", "storage_gb_month": "price_storage_gb_month",
                 "network_gb": "price_network_gb", "training_second": "price_training_second",
                 "currency": "currency"}


def region_get(name: str) -> Region:
    try:
        return Region.objects.get(name=name)
    except Region.DoesNotExist:
        raise RegionNotFound(f"Region '{name}' not found.", details={"region": name}) from None


def regions_by_names(names: list[str]) -> list[Region]:
    found = {r.name: r for r in Region.objects.filter(name__in=names)}
    missing = [n for n in names if n not in found]
    if missing:
        raise RegionNotFound(f"Unknown region(s): {', '.join(missing)}.", details={"regions": missing})
    return [found[n] for n in names]


def local_region() -> Region | None:
    """The region this process serves (FEDPLANE_REGION), if it is a registered one."""
    return Region.objects.filter(name=settings.FEDPLANE_REGION).first()


def endpoint_error(endpoint: str) -> str | None:
    """Why the server must not probe or forward to `endpoint` (REGIONS_ENDPOINT_ALLOWED_HOSTS, link-local), or None."""
    return http_url_error(endpoint, allowed_hosts=settings.REGIONS_ENDPOINT_ALLOWED_HOSTS,
                          allow_setting="REGIONS_ENDPOINT_ALLOWED_HOSTS")


def _check(*, endpoint: str | None = None, store_url: str | None = None) -> None:
    """Where a region may point: checked on create and on every update, whoever calls (API or admin)."""
    errors = {}
    if endpoint and (why := endpoint_error(endpoint)):
        errors["endpoint"] = why
    if store_url is not None and (why := store_url_error(store_url)):
        errors["store_url"] = why
    if errors:
        field, why = next(iter(errors.items()))
        raise DomainError(f"{field}: {why}", code=ErrorCode.VALIDATION_ERROR, status=422, details=errors)


def _apply(region: Region, *, price_card: dict[str, Any] | None = None, **fields: Any) -> None:
    for name, value in fields.items():
        if value is not None:
            setattr(region, name, value)
    for key, value in (price_card or {}).items():
        setattr(region, _PRICE_FIELDS[key], value)


@transaction.atomic
def region_create(*, name: str, endpoint: str = "", store_url: str = "", priority: int = 100,
                  price_card: dict[str, Any] | None = None, config: dict | None = None) -> Region:
    region = Region(name=name, endpoint=endpoint.rstrip("/"), store_url=store_url or default_store_url(name),
                    priority=priority, config=config or {})
    _check(endpoint=region.endpoint, store_url=region.store_url)
    _apply(region, price_card=price_card)
    try:
        with transaction.atomic():  # a savepoint: the unique name decides, even between two racing creates
            region.save()
    except IntegrityError:
        raise Conflict(f"Region '{name}' already exists.", details={"region": name}) from None
    emit("region.created", {"region": name, "endpoint": region.endpoint, "storeUrl": region.store_url})
    return region


@transaction.atomic
def region_update(*, name: str, **changes: Any) -> Region:
    region = region_get(name)
    if "endpoint" in changes and changes["endpoint"] is not None:
        changes["endpoint"] = changes["endpoint"].rstrip("/")
    _check(endpoint=changes.get("endpoint"), store_url=changes.get("store_url"))
    _apply(region, **changes)
    region.save()
    emit("region.updated", {"region": name})
    return region


@transaction.atomic
def region_config_set(*, name: str, config: dict[str, Any]) -> Region:
    """New desired configuration for a region; the region acknowledges it when it applies it."""
    region = Region.objects.select_for_update().get(pk=region_get(name).pk)
    region.config = config
    region.config_version += 1
    region.save(update_fields=["config", "config_version"])
    emit("region.config_changed", {"region": name, "configVersion": region.config_version})
    return region


@transaction.atomic
def region_config_ack(*, name: str, version: int) -> Region:
    region = Region.objects.select_for_update().get(pk=region_get(name).pk)
    region.config_synced_version = max(region.config_synced_version, min(version, region.config_version))
    region.save(update_fields=["config_synced_version"])
    emit("region.config_synced", {"region": name, "configVersion": region.config_synced_version})
    return region
