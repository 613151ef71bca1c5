"""Enumerations of the Module Federation domain, one source for models, API, filters and OpenAPI."""
from django.db import models

__all__ = ["ApplicationStatus", "Health", "Framework", "ModuleStatus", "LoadStrategy", "Environment",
           "DeploymentStrategy", "DeploymentStatus", "ResolveStrategy", "ShareStrategy", "MetricKind",
           "Period", "MetricName"]


class ApplicationStatus(models.TextChoices):
    ACTIVE = "active"
    INACTIVE = "inactive"
    DEPLOYING = "deploying"


class Health(models.TextChoices):
    HEALTHY = "healthy"
    WARNING = "warning"
    CRITICAL = "critical"


class Framework(models.TextChoices):
    REACT = "react"
    VUE = "vue"
    ANGULAR = "angular"


class ModuleStatus(models.TextChoices):
    ACTIVE = "active"
    INACTIVE = "inactive"
    LOADING = "loading"
    ERROR = "error"


class LoadStrategy(models.TextChoices):
    EAGER = "eager"
    LAZY = "lazy"


class Environment(models.TextChoices):
    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"


class DeploymentStrategy(models.TextChoices):
    BLUE_GREEN = "blue-green"
    CANARY = "canary"
    ROLLING = "rolling"


class DeploymentStatus(models.TextChoices):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"


class ResolveStrategy(models.TextChoices):
    HIGHEST = "highest"
    LOWEST = "lowest"
    MANUAL = "manual"


class ShareStrategy(models.TextChoices):
    """MF 2.0 runtime `shareStrategy`: version-first loads every remote's entry up front."""

    VERSION_FIRST = "version-first"
    LOADED_FIRST = "loaded-first"


class MetricKind(models.TextChoices):
    LOAD = "load"            # a fetch made by fedplane (POST /modules/{id}/load)
    TELEMETRY = "telemetry"  # a report from a shell in a browser


class Period(models.TextChoices):
    H1 = "1h"
    H24 = "24h"
    D7 = "7d"
    D30 = "30d"


class MetricName(models.TextChoices):
    LOAD_TIME = "loadTime"
    SIZE = "size"
    ERRORS = "errors"
    REQUESTS = "requests"
