"""Regions (serving locations with a store and a price card) and their health probes."""
from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils import timezone

from ..choices import HealthStatus, RoutingStatus

__all__ = ["Region", "ProbeResult"]


class Region(models.Model):
    name = models.SlugField(max_length=64, unique=True)
    endpoint = models.URLField(blank=True, help_text="Base URL of the region's fedplane process (no /api/v1).")
    store_url = models.CharField(max_length=500, help_text="fsspec URL of the region's artifact store.")
    priority = models.IntegerField(default=100, help_text="Lower is preferred when routing.")
    # Price card, per unit, in `currency`; Decimal so costs come out exact to the cent.
    currency = models.CharField(max_length=3, default="USD")
    price_compute_second = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal("0"))
    price_storage_gb_month = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal("0"))
    price_network_gb = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal("0"))
    price_training_second = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal("0"))
    routing_status = models.CharField(max_length=16, choices=RoutingStatus.choices, default=RoutingStatus.ACTIVE)
    health_status = models.CharField(max_length=16, choices=HealthStatus.choices, default=HealthStatus.UNKNOWN)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_latency_ms = models.FloatField(null=True, blank=True)
    last_error_rate = models.FloatField(null=True, blank=True)
    last_probe_at = models.DateTimeField(null=True, blank=True)
    config = models.JSONField(default=dict, blank=True, help_text="Configuration synced to the region.")
    config_version = models.PositiveIntegerField(default=0)
    config_synced_version = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["priority", "name"]
        verbose_name = "region"
        verbose_name_plural = "regions"

    def __str__(self) -> str:
        return self.name

    def price_card(self) -> dict[str, Decimal | str]:
        return {"currency": self.currency, "compute_second": self.price_compute_second,
                "storage_gb_month": self.price_storage_gb_month, "network_gb": self.price_network_gb,
                "training_second": self.price_training_second}


class ProbeResult(models.Model):
    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="probes")
    ok = models.BooleanField()
    latency_ms = models.FloatField(null=True, blank=True)
    status_code = models.IntegerField(null=True, blank=True)
    inflight = models.IntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at"]
        verbose_name = "health probe"
        verbose_name_plural = "health probes"
