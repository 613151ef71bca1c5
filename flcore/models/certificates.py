"""Client certificates issued by the platform's client CA (mTLS for FL clients)."""
from __future__ import annotations

from django.db import models
from django.utils import timezone


class ClientCertificate(models.Model):
    """One certificate issued to a client: looked up per request by its fingerprint, so revoking
    the row (or the client) refuses the certificate at once."""

    client = models.ForeignKey("flcore.FLClient", on_delete=models.CASCADE, related_name="certificates")
    serial = models.CharField(max_length=40, unique=True)  # hex of the X.509 serial number
    fingerprint = models.CharField(max_length=64, unique=True)  # SHA-256 of the DER certificate, hex
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    issued_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-issued_at", "-id"]
        indexes = [models.Index(fields=["client", "revoked_at"], name="flcore_cert_client_revoked")]
        verbose_name = "client certificate"
        verbose_name_plural = "client certificates"

    def __str__(self) -> str:
        return f"certificate {self.serial} of {self.client_id}"
