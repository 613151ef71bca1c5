"""What the platform measures itself: request metrics and metered usage; plus imported bills."""
from __future__ import annotations

from django.db import models
from django.utils import timezone

from ..choices import ResourceType

__all__ = ["RequestMetric", "UsageRecord", "BillingRecord"]


class RequestMetricManager(models.Manager):
    """Every query first writes the rows this process still has queued (services/recorder.py)."""

    def get_queryset(self):
        from ..services.recorder import flush

        flush()
        return super().get_queryset()


class RequestMetric(models.Model):
    """One predict request served by a region (the source of p95, error rate, throughput)."""

    region = models.CharField(max_length=64, db_index=True)
    model_name = models.CharField(max_length=128)
    version = models.CharField(max_length=64, blank=True)
    latency_ms = models.FloatField()
    compute_seconds = models.FloatField(default=0)
    batch_size = models.PositiveIntegerField(default=1)
    ok = models.BooleanField(default=True)
    status_code = models.PositiveSmallIntegerField(default=200)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = RequestMetricManager()

    class Meta:
        ordering = ["-at"]
        verbose_name = "request metric"
        verbose_name_plural = "request metrics"


class UsageRecord(models.Model):
    """Metered usage in a region: quantity in the resource's unit (seconds, GB, GB-month)."""

    region = models.ForeignKey("regions.Region", on_delete=models.CASCADE, related_name="usage")
    resource_type = models.CharField(max_length=16, choices=ResourceType.choices)
    quantity = models.DecimalField(max_digits=24, decimal_places=9)
    unit = models.CharField(max_length=16)
    reference = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at"]
        verbose_name = "usage record"
        verbose_name_plural = "usage records"


class BillingRecord(models.Model):
    """A row of an imported billing export (FinOps FOCUS columns)."""

    region = models.CharField(max_length=64, blank=True)
    resource_type = models.CharField(max_length=16, choices=ResourceType.choices)
    service_name = models.CharField(max_length=200, blank=True)
    resource_id = models.CharField(max_length=300, blank=True)
    billed_cost = models.DecimalField(max_digits=20, decimal_places=6)
    currency = models.CharField(max_length=3, default="USD")
    charge_period_start = models.DateTimeField()
    charge_period_end = models.DateTimeField()
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-charge_period_start"]
        verbose_name = "billing record"
        verbose_name_plural = "billing records"
