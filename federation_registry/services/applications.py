"""Applications: create, update, delete, and health derived from recent load errors."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from fedplane.api.errors import Conflict
from fedplane.events.services import emit

from ..choices import Health, ModuleStatus
from ..errors import ApplicationNotFound
from ..models import Application, ModuleMetric, RuntimeConfig

__all__ = ["application_get", "application_by_ref", "application_create", "application_update", "application_delete",
           "application_refresh_health", "health_for"]

# `config` keys that seed the runtime configuration when an application is created.
_RUNTIME_KEYS = {"publicPath": "public_path", "chunkLoadTimeout": "chunk_load_timeout"}


def application_get(application_id: Any, *, for_update: bool = False) -> Application:
    qs = Application.objects.select_for_update() if for_update else Application.objects
    try:
        return qs.get(pk=application_id)
    except (Application.DoesNotExist, ValueError, TypeError, DjangoValidationError):
        raise ApplicationNotFound(f"Application {application_id} not found.",
                                  details={"applicationId": str(application_id)})


def application_by_ref(ref: Any) -> Application:
    """By id, or by name (what a shell knows about itself)."""
    try:
        return application_get(ref)
    except ApplicationNotFound:
        app = Application.objects.filter(name=str(ref)).first()
        if app is None:
            raise
        return app


@transaction.atomic
def application_create(*, name: str, host: str, version: str, framework: str, config: dict | None = None,
                       dependencies: dict | None = None, status: str | None = None) -> Application:
    config = config or {}
    if Application.objects.filter(name=name).exists():
        raise Conflict(f"An application named {name!r} exists.", details={"name": name})
    try:
        with transaction.atomic():
            app = Application.objects.create(name=name, host=host, version=version, framework=framework,
                                             config=config, dependencies=dependencies or {},
                                             **({"status": status} if status else {}))
    except IntegrityError:  # a concurrent create won the unique name
        raise Conflict(f"An application named {name!r} exists.", details={"name": name})
    RuntimeConfig.objects.create(application=app, **{field: config[key] for key, field in _RUNTIME_KEYS.items()
                                                     if key in config})
    emit("application.created", {"applicationId": str(app.id), "name": app.name, "version": app.version})
    from .runtime import snapshots_rebuild  # runtime imports this module
    snapshots_rebuild(app)
    return app


@transaction.atomic
def application_update(*, application_id: Any, **changes: Any) -> Application:
    app = application_get(application_id, for_update=True)
    name = changes.get("name")
    if name and name != app.name and Application.objects.filter(name=name).exists():
        raise Conflict(f"An application named {name!r} exists.", details={"name": name})
    for field, value in changes.items():
        setattr(app, field, value)
    app.save()
    from .runtime import snapshots_rebuild
    snapshots_rebuild(app)
    return app


@transaction.atomic
def application_delete(*, application_id: Any) -> None:
    app = application_get(application_id, for_update=True)
    emit("application.deleted", {"applicationId": str(app.id), "name": app.name})
    app.delete()


def health_for(errors: int, total: int, modules_in_error: int) -> str:
    """Error share of recent loads: >= 50% critical, >= 10% (or a module in error) warning."""
    rate = errors / total if total else 0.0
    if rate >= settings.FEDERATION_HEALTH_CRITICAL_RATE:
        return Health.CRITICAL
    if rate >= settings.FEDERATION_HEALTH_WARNING_RATE or modules_in_error:
        return Health.WARNING
    return Health.HEALTHY


def application_refresh_health(app: Application) -> str:
    """Recompute health from the loads of the last FEDERATION_HEALTH_WINDOW_SECONDS; emit on change."""
    since = timezone.now() - timedelta(seconds=settings.FEDERATION_HEALTH_WINDOW_SECONDS)
    counts = ModuleMetric.objects.filter(module__application=app, created_at__gte=since).aggregate(
        total=Count("id"), errors=Count("id", filter=Q(success=False)))
    in_error = app.modules.filter(status=ModuleStatus.ERROR).count()
    health = health_for(counts["errors"], counts["total"], in_error)
    if health != app.health:
        previous, app.health = app.health, health
        Application.objects.filter(pk=app.pk).update(health=health)
        emit("application.health_changed", {"applicationId": str(app.id), "from": previous, "to": health,
                                            "errors": counts["errors"], "samples": counts["total"]},
             severity="warning" if health != Health.HEALTHY else "info")
    return health
