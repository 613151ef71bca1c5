"""Admin console views of the multi-region app (read-mostly; changes go through the API's services)."""
from django.contrib import admin

from .models import Deployment, Failover, ModelVersion, RegisteredModel, Region, Replica, ReplicationJob

__all__: list[str] = []


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ("name", "endpoint", "routing_status", "health_status", "priority", "last_probe_at")


@admin.register(RegisteredModel)
class RegisteredModelAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at")


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("model", "version", "format", "home_region", "size_bytes", "sha256")


@admin.register(Replica)
class ReplicaAdmin(admin.ModelAdmin):
    list_display = ("version", "region", "status", "updated_at")


@admin.register(ReplicationJob)
class ReplicationJobAdmin(admin.ModelAdmin):
    list_display = ("id", "version", "source_region", "status", "created_at")


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ("id", "model", "version", "strategy", "status", "started_at")


@admin.register(Failover)
class FailoverAdmin(admin.ModelAdmin):
    list_display = ("id", "from_region", "to_region", "status", "automatic", "initiated_at")
