"""Shared dependencies: what applications put into (and take from) the share scope."""
from __future__ import annotations

import uuid

from django.db import models

from ..choices import LoadStrategy
from .applications import Application

__all__ = ["SharedDependency"]


class SharedDependency(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    package = models.CharField(max_length=214, db_index=True)  # npm's name length limit
    version = models.CharField(max_length=64)  # the version the applications provide
    singleton = models.BooleanField(default=False)
    strict_version = models.BooleanField(default=False)
    required_version = models.CharField(max_length=200)
    load_strategy = models.CharField(max_length=8, choices=LoadStrategy.choices, default=LoadStrategy.LAZY)
    # False is webpack's `import: false`: the consumer has no own copy to fall back to.
    fallback = models.BooleanField(default=True)
    share_scope = models.CharField(max_length=100, default="default")
    applications = models.ManyToManyField(Application, related_name="shared_dependencies", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["package", "version"]
        verbose_name = "shared dependency"
        verbose_name_plural = "shared dependencies"

    def __str__(self) -> str:
        return f"{self.package}@{self.version}"
