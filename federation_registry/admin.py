"""Admin console for the registry. Every write re-renders the shells' configuration, so writes go
through the services (application edits, deployment promotion and rollback); the rest is read-only."""
from __future__ import annotations

from django.contrib import admin

from fedplane.api.admin import ReadOnlyAdmin, ReadOnlyInline, ServiceWrittenAdmin, act

from .models import (Application, Deployment, ModuleMetric, ModuleRelease, ModuleVersion, RemoteModule, RuntimeConfig,
                     SharedDependency, ShellSnapshot)
from .services import applications as application_services
from .services import deployments as deployment_services

__all__ = ["ApplicationAdmin", "RemoteModuleAdmin", "SharedDependencyAdmin", "DeploymentAdmin"]


class RemoteModuleInline(ReadOnlyInline):
    model = RemoteModule
    fields = ("name", "url", "version", "status", "load_time", "size")


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "framework", "status", "health", "host", "created_at")
    list_filter = ("status", "framework", "health")
    search_fields = ("name", "host")
    date_hierarchy = "created_at"
    readonly_fields = ("health", "created_at", "updated_at")
    inlines = [RemoteModuleInline]

    def has_add_permission(self, request):
        return False  # registration validates the config and builds the runtime configuration

    def save_model(self, request, obj, form, change):
        """Through the service: it checks the name and re-renders the shell configuration."""
        application_services.application_update(
            application_id=obj.pk, **{f: form.cleaned_data[f] for f in form.changed_data})

    def delete_model(self, request, obj):
        application_services.application_delete(application_id=obj.pk)

    def delete_queryset(self, request, queryset):
        for app in queryset:
            application_services.application_delete(application_id=app.pk)


@admin.register(RuntimeConfig)
class RuntimeConfigAdmin(ReadOnlyAdmin):
    list_display = ("application", "public_path", "chunk_load_timeout", "updated_at")
    search_fields = ("application__name",)
    date_hierarchy = "updated_at"
    list_select_related = ("application",)


@admin.register(RemoteModule)
class RemoteModuleAdmin(ReadOnlyAdmin):
    list_display = ("name", "application", "version", "status", "load_time", "size", "last_updated")
    list_filter = ("status", "application")
    search_fields = ("name", "url", "application__name")
    date_hierarchy = "created_at"
    list_select_related = ("application",)
    raw_id_fields = ("application",)


@admin.register(ModuleVersion)
class ModuleVersionAdmin(ReadOnlyAdmin):
    list_display = ("module", "version", "change", "url", "changed_at")
    list_filter = ("change",)
    search_fields = ("module__name", "version", "url")
    date_hierarchy = "changed_at"
    list_select_related = ("module",)


@admin.register(SharedDependency)
class SharedDependencyAdmin(ReadOnlyAdmin):
    list_display = ("package", "version", "singleton", "strict_version", "required_version", "load_strategy",
                    "share_scope")
    list_filter = ("singleton", "strict_version", "load_strategy", "share_scope")
    search_fields = ("package", "version")
    date_hierarchy = "created_at"


@admin.register(ModuleMetric)
class ModuleMetricAdmin(ReadOnlyAdmin):
    list_display = ("module", "kind", "success", "load_time", "size", "variant", "error_code", "created_at")
    list_filter = ("kind", "success", "variant", "error_code")
    search_fields = ("module__name", "client_id", "error_message")
    date_hierarchy = "created_at"
    list_select_related = ("module",)
    raw_id_fields = ("module", "deployment")
    show_full_result_count = False  # large table: skip the COUNT(*) of the unfiltered rows


@admin.register(Deployment)
class DeploymentAdmin(ServiceWrittenAdmin):
    list_display = ("id", "application", "environment", "strategy", "status", "traffic_percent", "step_index",
                    "created_at")
    list_filter = ("environment", "strategy", "status")
    search_fields = ("=id", "application__name", "reason")
    date_hierarchy = "created_at"
    list_select_related = ("application",)
    raw_id_fields = ("application",)
    actions = ("promote", "roll_back")

    @admin.action(description="Promote the selected deployments to their next traffic step")
    def promote(self, request, queryset):
        act(self, request, queryset, action="promote",
            call=lambda d: deployment_services.deployment_promote(deployment_id=d.pk,
                                                                  reason=f"promoted from the admin by {request.user}"),
            success=lambda d, r: f"{d.pk}: {r.status} at {r.traffic_percent}%")

    @admin.action(description="Roll back the selected deployments")
    def roll_back(self, request, queryset):
        act(self, request, queryset, action="roll_back",
            call=lambda d: deployment_services.deployment_rollback(
                deployment_id=d.pk, reason=f"rolled back from the admin by {request.user}"),
            success=lambda d, r: f"{d.pk}: {r.status}")


@admin.register(ModuleRelease)
class ModuleReleaseAdmin(ReadOnlyAdmin):
    list_display = ("module", "environment", "version", "url", "updated_at")
    list_filter = ("environment",)
    search_fields = ("module__name", "version", "url")
    date_hierarchy = "updated_at"
    list_select_related = ("module",)


@admin.register(ShellSnapshot)
class ShellSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("application_name", "environment", "stable_etag", "canary_etag", "canary_percent", "updated_at")
    list_filter = ("environment",)
    search_fields = ("application_name",)
    date_hierarchy = "updated_at"
    exclude = ("stable_body", "canary_body")
