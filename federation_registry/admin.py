"""Admin console for the registry. Writes that have rules (deploy, rollback) go through services."""
from django.contrib import admin, messages

from .models import Application, Deployment, ModuleMetric, RemoteModule, RuntimeConfig, SharedDependency
from .services.deployments import deployment_rollback

__all__ = ["ApplicationAdmin", "RemoteModuleAdmin", "SharedDependencyAdmin", "DeploymentAdmin"]


class RemoteModuleInline(admin.TabularInline):
    model = RemoteModule
    fields = ("name", "url", "version", "status", "load_time", "size")
    readonly_fields = fields
    extra = 0
    show_change_link = True


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "framework", "status", "health", "created_at")
    list_filter = ("status", "framework", "health")
    search_fields = ("name", "host")
    inlines = [RemoteModuleInline]


@admin.register(RemoteModule)
class RemoteModuleAdmin(admin.ModelAdmin):
    list_display = ("name", "application", "version", "status", "load_time", "size", "last_updated")
    list_filter = ("status",)
    search_fields = ("name", "url")
    readonly_fields = ("load_time", "size")


@admin.register(SharedDependency)
class SharedDependencyAdmin(admin.ModelAdmin):
    list_display = ("package", "version", "singleton", "strict_version", "required_version", "load_strategy")
    search_fields = ("package",)
    filter_horizontal = ("applications",)


@admin.register(RuntimeConfig)
class RuntimeConfigAdmin(admin.ModelAdmin):
    list_display = ("application", "public_path", "chunk_load_timeout", "updated_at")


@admin.register(ModuleMetric)
class ModuleMetricAdmin(admin.ModelAdmin):
    list_display = ("module", "kind", "success", "load_time", "size", "variant", "created_at")
    list_filter = ("kind", "success", "variant")


@admin.action(description="Roll back the selected deployments")
def rollback(modeladmin, request, queryset):
    for deployment in queryset:
        try:
            deployment_rollback(deployment_id=deployment.pk, reason=f"rolled back from admin by {request.user}")
        except Exception as exc:  # one refusal must not stop the others; each is reported
            modeladmin.message_user(request, f"{deployment.pk}: {exc}", messages.ERROR)


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ("id", "application", "environment", "strategy", "status", "traffic_percent", "created_at")
    list_filter = ("environment", "strategy", "status")
    readonly_fields = ("transitions", "targets")
    actions = [rollback]
