"""Admin: unified deployments (read-only, rolled back through the integration service) and the
cross-system relations, which only the platform writes."""
from __future__ import annotations

from django.contrib import admin, messages

from fedplane.api.admin import ReadOnlyAdmin, ServiceWrittenAdmin, act

from .models import ModelRequirement, ModuleClientDeployment, TriggeredExecution, UnifiedDeployment

__all__ = ["UnifiedDeploymentAdmin"]


@admin.register(UnifiedDeployment)
class UnifiedDeploymentAdmin(ServiceWrittenAdmin):
    list_display = ("id", "environment", "status", "application", "execution", "started_execution", "error_code",
                    "created_by", "created_at", "completed_at")
    list_filter = ("status", "environment", "started_execution", "rollback_on_failure", "error_code")
    search_fields = ("=id", "application__name", "=execution__id", "error_message", "celery_task_id")
    date_hierarchy = "created_at"
    list_select_related = ("application", "execution", "created_by")
    raw_id_fields = ("application", "federation_deployment", "execution", "coordinated_round", "created_by")
    actions = ("roll_back",)

    @admin.action(description="Roll back the selected unified deployments (both halves)")
    def roll_back(self, request, queryset):
        try:  # imported here: the deploy service may be absent from an older checkout, the admin must still load
            from .services.deploy import deployment_rollback
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.services.deploy":
                raise
            self.message_user(request, "Unified deployment rollback is not available in this version.",
                              messages.ERROR)
            return
        act(self, request, queryset, action="roll_back",
            call=lambda d: deployment_rollback(deployment_id=d.pk, user=request.user),
            success=lambda d, r: f"{d.pk}: {getattr(r, 'status', 'rolling back')}")


@admin.register(TriggeredExecution)
class TriggeredExecutionAdmin(ReadOnlyAdmin):
    list_display = ("application", "execution", "deployment", "created_at")
    search_fields = ("application__name", "=execution__id")
    date_hierarchy = "created_at"
    list_select_related = ("application", "execution", "deployment")
    raw_id_fields = ("application", "execution", "deployment")


@admin.register(ModuleClientDeployment)
class ModuleClientDeploymentAdmin(ReadOnlyAdmin):
    list_display = ("module", "client", "environment", "version", "deployment", "deployed_at")
    list_filter = ("environment",)
    search_fields = ("module__name", "client__name", "version")
    date_hierarchy = "deployed_at"
    list_select_related = ("module", "client", "deployment")
    raw_id_fields = ("module", "client", "deployment")


@admin.register(ModelRequirement)
class ModelRequirementAdmin(ReadOnlyAdmin):
    list_display = ("dependency", "aggregated_model", "deployment", "created_at")
    search_fields = ("dependency__package", "=aggregated_model__execution__id")
    date_hierarchy = "created_at"
    list_select_related = ("dependency", "aggregated_model", "deployment")
    raw_id_fields = ("dependency", "aggregated_model", "deployment")
