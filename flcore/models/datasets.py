"""Datasets uploaded for simulations: split into one partition per virtual client."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class TrainingDataset(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    file_format = models.CharField(max_length=8)  # npz | csv
    path = models.CharField(max_length=500)  # relative to FEDPLANE_ARTIFACT_ROOT
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    num_samples = models.PositiveIntegerField()
    num_features = models.PositiveIntegerField()
    num_classes = models.PositiveIntegerField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "training dataset"
        verbose_name_plural = "training datasets"

    def __str__(self) -> str:
        return f"{self.name} ({self.num_samples} samples)"
