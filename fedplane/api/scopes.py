"""Permission scopes from the seed, one source for models, views and tokens."""
from __future__ import annotations

from django.db import models

__all__ = ["Scope", "ALL_SCOPES", "ClientScope", "CLIENT_SCOPES"]


class Scope(models.TextChoices):
    FEDERATION_APPLICATIONS_READ = "federation:applications:read"
    FEDERATION_APPLICATIONS_WRITE = "federation:applications:write"
    FEDERATION_MODULES_DEPLOY = "federation:modules:deploy"
    FEDERATION_CONFIG_MANAGE = "federation:config:manage"
    FL_TRAINING_EXECUTE = "fl:training:execute"
    FL_CLIENTS_MANAGE = "fl:clients:manage"
    FL_MODELS_AGGREGATE = "fl:models:aggregate"
    FL_METRICS_VIEW = "fl:metrics:view"
    # The multi-region seed names no scopes; these follow the same shape.
    REGIONS_MODELS_READ = "regions:models:read"
    REGIONS_MODELS_WRITE = "regions:models:write"
    REGIONS_PREDICT = "regions:predict"
    REGIONS_OPERATE = "regions:operate"
    ADMIN_SYSTEM_CONFIGURE = "admin:system:configure"
    ADMIN_USERS_MANAGE = "admin:users:manage"
    ADMIN_AUDIT_VIEW = "admin:audit:view"


ALL_SCOPES: frozenset[str] = frozenset(Scope.values)


class ClientScope(models.TextChoices):
    """What a client authenticated by its own certificate may do, on its own records only. Held by
    no user or key (not in ALL_SCOPES): a view lets a client in by naming one in `client_scopes`."""

    STATUS = "client:status"  # read its own record
    HEARTBEAT = "client:heartbeat"  # report its status
    METRICS = "client:metrics"  # its own metrics
    ASSIGNMENTS = "client:assignments"  # its assignments, and the executions it is assigned to
    CERTIFICATE = "client:certificate"  # renew its certificate


CLIENT_SCOPES: frozenset[str] = frozenset(ClientScope.values)
