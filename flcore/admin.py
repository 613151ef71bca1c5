"""Admin console for federated learning: browse everything, act through the services."""
from django.contrib import admin, messages

from fedplane.api.errors import DomainError

from .models import AggregatedModel, ClientAssignment, ClientUpdate, FLClient, TrainingExecution, TrainingRound
from .services import executions as execution_services


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class RoundInline(admin.TabularInline):
    model = TrainingRound
    fields = ("round_number", "status", "accepted", "metrics", "started_at", "completed_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(TrainingExecution)
class TrainingExecutionAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "algorithm", "model_type", "current_round", "total_rounds",
                    "participating_clients", "error_code", "worker", "created_at")
    list_filter = ("status", "algorithm", "model_type", "error_code")
    search_fields = ("id", "algorithm", "worker", "error_message")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in TrainingExecution._meta.fields]
    inlines = [RoundInline]
    actions = ("stop_executions", "resume_executions")

    def has_add_permission(self, request):
        return False  # executions start through the API, which validates the config

    def _each(self, request, queryset, service, verb: str) -> None:
        for execution in queryset:
            try:
                service(execution_id=execution.pk)
                self.message_user(request, f"{verb} {execution.pk}")
            except DomainError as exc:
                self.message_user(request, f"{execution.pk}: {exc.message}", messages.ERROR)

    @admin.action(description="Stop selected executions (between rounds)")
    def stop_executions(self, request, queryset):
        self._each(request, queryset, lambda **kw: execution_services.execution_stop(reason="admin", **kw),
                   "stopping")

    @admin.action(description="Resume selected executions from their last checkpoint")
    def resume_executions(self, request, queryset):
        self._each(request, queryset, execution_services.execution_resume, "resumed")


@admin.register(FLClient)
class FLClientAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "compute", "region", "node_id", "current_execution", "last_seen")
    list_filter = ("status", "compute", "region")
    search_fields = ("id", "name", "region")


@admin.register(TrainingRound)
class TrainingRoundAdmin(ReadOnlyAdmin):
    list_display = ("execution", "round_number", "status", "accepted", "started_at", "completed_at")
    list_filter = ("status", "accepted")
    search_fields = ("execution__id",)


@admin.register(ClientUpdate)
class ClientUpdateAdmin(ReadOnlyAdmin):
    list_display = ("round", "phase", "client", "node_id", "num_examples", "duration_seconds", "received_at")
    list_filter = ("phase",)


@admin.register(AggregatedModel)
class AggregatedModelAdmin(ReadOnlyAdmin):
    list_display = ("execution", "round_number", "algorithm", "sha256", "size_bytes", "created_at")
    search_fields = ("execution__id", "sha256")


@admin.register(ClientAssignment)
class ClientAssignmentAdmin(admin.ModelAdmin):
    list_display = ("execution", "client", "role", "assigned_at")
    list_filter = ("role",)
