"""Cost: metered usage priced by each region's price card; recommendations from utilisation.

Units: compute and training in seconds, network in GB (1e9 bytes) leaving a region,
storage in GB-months (30 days) of verified replicas, training in seconds of federated
client updates (flcore, read only) by the client's region. Money is Decimal, rounded to
the cent (half up) only when reported.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, DecimalField, Sum
from django.utils import timezone

from ..choices import ReplicaStatus, ResourceType
from ..models import BillingRecord, Region, Replica, RequestMetric, Serving, UsageRecord

__all__ = ["cost_summary", "cost_recommendations", "cents", "GB", "MONTH_SECONDS"]

GB = Decimal(10) ** 9
MONTH_SECONDS = Decimal(30 * 24 * 3600)
_CENT = Decimal("0.01")
_MAX_BILLED = Decimal(10) ** 14  # BillingRecord.billed_cost is numeric(20, 6)


def cents(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def _storage_gb_months(replica: Replica, start: datetime, end: datetime) -> Decimal:
    since = max(replica.stored_since or end, start)
    seconds = Decimal(str(max(0.0, (end - since).total_seconds())))
    return Decimal(replica.size_bytes) / GB * seconds / MONTH_SECONDS


def _metered(regions: list[Region], start: datetime, end: datetime) -> dict[tuple[str, str], Decimal]:
    cost: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    names = [r.name for r in regions]
    by_name = {r.name: r for r in regions}
    compute = RequestMetric.objects.filter(region__in=names, at__gte=start, at__lte=end) \
        .values("region").annotate(seconds=Sum("compute_seconds"))
    for row in compute:
        cost[(row["region"], ResourceType.COMPUTE)] += Decimal(str(row["seconds"] or 0)) * \
            by_name[row["region"]].price_compute_second
    price = {ResourceType.COMPUTE: "price_compute_second", ResourceType.TRAINING: "price_training_second",
             ResourceType.NETWORK: "price_network_gb", ResourceType.STORAGE: "price_storage_gb_month"}
    usage = UsageRecord.objects.filter(region__in=regions, at__gte=start, at__lte=end) \
        .values("region__name", "resource_type").annotate(quantity=Sum("quantity"))
    for row in usage:
        region = by_name[row["region__name"]]
        unit_price = getattr(region, price.get(row["resource_type"], ""), Decimal(0))
        cost[(region.name, row["resource_type"])] += row["quantity"] * unit_price
    for name, seconds in _training_seconds(names, start, end).items():
        cost[(name, ResourceType.TRAINING)] += seconds * by_name[name].price_training_second
    for replica in Replica.objects.filter(region__in=regions, status=ReplicaStatus.COMPLETED).select_related("region"):
        cost[(replica.region.name, ResourceType.STORAGE)] += _storage_gb_months(replica, start, end) * \
            replica.region.price_storage_gb_month
    return cost


def _training_seconds(names: list[str], start: datetime, end: datetime) -> dict[str, Decimal]:
    """Training compute seconds by region, read through REGIONS_TRAINING_USAGE_SOURCE (regions does
    not import flcore; fedplane.integration provides it)."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    return import_string(settings.REGIONS_TRAINING_USAGE_SOURCE)(names, start, end)


def _billed(region_names: list[str] | None, start: datetime, end: datetime) -> dict[tuple[str, str], Decimal]:
    cost: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    rows = BillingRecord.objects.filter(charge_period_start__lt=end, charge_period_end__gt=start)
    # Rows imported before amounts were checked may hold what the column cannot (SQLite kept 1e400 as
    # an infinite REAL): left out, so the summary still answers.
    rows = rows.filter(billed_cost__gt=-_MAX_BILLED, billed_cost__lt=_MAX_BILLED)
    if region_names:
        rows = rows.filter(region__in=region_names)
    # The sum may need more digits than one row's column (20): converting it with the row's precision failed.
    total = Sum("billed_cost", output_field=DecimalField(max_digits=40, decimal_places=6))
    for row in rows.values("region", "resource_type").annotate(total=total):
        cost[(row["region"] or "global", row["resource_type"])] += row["total"]
    return cost


def cost_summary(*, days: int = 30, regions: list[str] | None = None, source: str = "metered",
                 now: datetime | None = None) -> dict[str, Any]:
    end = now or timezone.now()
    start = end - timedelta(days=days)
    region_rows = list(Region.objects.filter(name__in=regions) if regions else Region.objects.all())
    cost = _billed(regions, start, end) if source == "billed" else _metered(region_rows, start, end)
    by_region: dict[str, Decimal] = defaultdict(Decimal)
    by_type: dict[str, Decimal] = defaultdict(Decimal)
    for (region, kind), value in cost.items():
        by_region[region] += value
        by_type[kind] += value
    for region in region_rows:
        by_region.setdefault(region.name, Decimal(0))
    return {"total_cost": cents(sum(cost.values(), Decimal(0))),
            "by_region": {k: cents(v) for k, v in sorted(by_region.items())},
            "by_resource_type": {k: cents(v) for k, v in sorted(by_type.items())},
            "currency": region_rows[0].currency if region_rows else "USD", "source": source,
            "period_start": start, "period_end": end}


def cost_recommendations(*, days: int = 30) -> dict[str, Any]:
    """Replicas nobody used, superseded versions still stored, regions with next to no traffic."""
    since = timezone.now() - timedelta(days=days)
    used = set(RequestMetric.objects.filter(at__gte=since).values_list("region", "model_name", "version").distinct())
    served = set(Serving.objects.values_list("region__name", "model__name", "version__version"))
    traffic = dict(RequestMetric.objects.filter(at__gte=since).values("region").annotate(n=Count("id"))
                   .values_list("region", "n"))
    total_traffic = sum(traffic.values())
    out: list[dict[str, Any]] = []
    replicas = Replica.objects.filter(status=ReplicaStatus.COMPLETED).select_related("region", "version__model",
                                                                                      "version__home_region")
    by_version: dict[int, list[Replica]] = defaultdict(list)
    for replica in replicas:
        by_version[replica.version_id].append(replica)
    for replica in replicas:
        version, region = replica.version, replica.region
        key = (region.name, version.model.name, version.version)
        monthly = Decimal(replica.size_bytes) / GB * region.price_storage_gb_month
        if region.pk == version.home_region_id or key in used or key in served:
            continue
        kind = "remove_idle_replica" if len(by_version[version.pk]) > 1 else "archive_idle_version"
        out.append({"type": kind, "region": region.name, "resource_id": f"{version.model.name}:{version.version}",
                    "current_cost_monthly": cents(monthly), "projected_cost_monthly": Decimal("0.00"),
                    "savings_monthly": cents(monthly),
                    "description": f"Replica received no predictions in {days} days and no region serves it.",
                    "action": f"Delete the replica of {version.model.name}:{version.version} in {region.name}"})
    for region in Region.objects.all():
        share = traffic.get(region.name, 0) / total_traffic if total_traffic else 0
        flagged = {(r["region"], r["resource_id"]) for r in out}
        stored = [r for r in replicas if r.region_id == region.pk
                  and (region.name, f"{r.version.model.name}:{r.version.version}") not in flagged]
        if total_traffic and share < 0.01 and stored:
            monthly = sum((Decimal(r.size_bytes) / GB * region.price_storage_gb_month for r in stored), Decimal(0))
            out.append({"type": "right_sizing", "region": region.name, "resource_id": region.name,
                        "current_cost_monthly": cents(monthly), "projected_cost_monthly": Decimal("0.00"),
                        "savings_monthly": cents(monthly),
                        "description": f"The region served {share:.2%} of predictions over {days} days.",
                        "action": f"Fail {region.name} over to a busier region and release its replicas"})
    return {"recommendations": out,
            "total_potential_savings": cents(sum((r["savings_monthly"] for r in out), Decimal(0)))}

