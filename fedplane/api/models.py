"""API keys (hashed at rest, scoped, expiring), the audit log, and idempotency keys' answers."""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey

__all__ = ["ApiKey", "AuditEntry", "IdempotencyRecord", "default_key_expiry"]


def default_key_expiry():
    return timezone.now() + timedelta(days=settings.API_KEY_LIFETIME_DAYS)


class ApiKey(AbstractAPIKey):
    """An API key sent in `X-API-Key`; only its SHA-512 hash is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    scopes = models.JSONField(default=list, help_text="Scopes granted to this key (subset of its owner's).")
    rotated_from = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rotated_to"
    )

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"

    def save(self, *args, **kwargs):
        if self.expiry_date is None:
            self.expiry_date = default_key_expiry()
        super().save(*args, **kwargs)


class AuditEntry(models.Model):
    """One write through the API (or an audited read, such as a client export): who, what, when,
    request id and outcome."""

    class Outcome(models.TextChoices):
        SUCCESS = "success"
        DENIED = "denied"
        REJECTED = "rejected"
        ERROR = "error"

    timestamp = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    username = models.CharField(max_length=150, blank=True)
    api_key_prefix = models.CharField(max_length=8, blank=True)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=512)
    view_name = models.CharField(max_length=200, blank=True)
    status_code = models.PositiveSmallIntegerField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices, db_index=True)
    request_id = models.CharField(max_length=128, db_index=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    duration_ms = models.FloatField(default=0)
    # What the view adds (`audit_note`): ids and counts, never personal data (e.g. a purge's counts).
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-timestamp", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.status_code} by {self.username or 'anonymous'}"

    @staticmethod
    def outcome_for(status_code: int) -> str:
        if status_code < 400:
            return AuditEntry.Outcome.SUCCESS
        if status_code in (401, 403, 429):
            return AuditEntry.Outcome.DENIED
        if status_code < 500:
            return AuditEntry.Outcome.REJECTED
        return AuditEntry.Outcome.ERROR


class IdempotencyRecord(models.Model):
    """The first answer to a POST sent with an `Idempotency-Key`, replayed to its retries.

    In the database, so that every web process sees it and it outlives a restart. A row
    without a status is a request still running (or one whose answer could not be stored:
    its claim lapses after IDEMPOTENCY_LOCK_SECONDS).
    """

    principal = models.CharField(max_length=64, help_text="Whose key: 'key:<prefix>' or 'user:<pk>'.")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=1024)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    claimed_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=200, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    body = models.BinaryField(default=bytes, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["principal", "key"], name="api_idempotency_key_unique")]
        verbose_name = "idempotency record"
        verbose_name_plural = "idempotency records"

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}] -> {self.status_code or 'in progress'}"
