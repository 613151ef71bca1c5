"""The event log: every state change the seed names as an event.

`id` is an event's identity, assigned when its row is inserted. `position` is its place in
commit order, assigned just after the transaction that wrote it commits (sequencing.py):
under concurrent writers ids can commit out of order, positions never do, so subscribers
read and resume by position and miss nothing.
"""
from __future__ import annotations

from django.db import models
from django.utils import timezone

__all__ = ["Event", "System", "Severity"]


class System(models.TextChoices):
    FEDERATION = "federation"
    FL = "fl"
    REGIONS = "regions"
    PLATFORM = "platform"
    INTEGRATION = "integration"  # cross-system work: unified deployments


class Severity(models.TextChoices):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


class Event(models.Model):
    id = models.BigAutoField(primary_key=True)
    type = models.CharField(max_length=64, db_index=True)
    system = models.CharField(max_length=16, choices=System.choices, db_index=True)
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.INFO, db_index=True)
    data = models.JSONField(default=dict)
    request_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # NULL until sequenced (a few milliseconds after commit); unique, so it is also indexed.
    position = models.BigIntegerField(null=True, unique=True, editable=False)

    class Meta:
        ordering = ["id"]
        verbose_name = "event"
        verbose_name_plural = "events"

    def __str__(self) -> str:
        return f"#{self.id} {self.type}"

    def as_message(self) -> dict:
        """The wire format of the seed's WebSocket events, plus id/system/severity for resuming."""
        return {
            "id": self.id,
            "event": self.type,
            "system": self.system,
            "severity": self.severity,
            "timestamp": self.created_at.isoformat().replace("+00:00", "Z"),
            "data": self.data,
        }

    def as_delivery(self) -> dict:
        """What the channel layer carries: the wire message and where it stands in commit order."""
        return {"position": self.position, "event": self.as_message()}
