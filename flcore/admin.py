"""Admin console for federated learning: browse everything, act through the services the API uses."""
from __future__ import annotations

import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from fedplane.api.admin import ReadOnlyAdmin, ReadOnlyInline, ServiceWrittenAdmin, act, action_page, audit, bound
from fedplane.api.errors import DomainError, ErrorCode

from .api.serializers import ExecutionCreateSerializer
from .api.validation_codes import code_for, field_errors
from .choices import Algorithm, ExecutionStatus
from .models import (AggregatedModel, ClientAssignment, ClientCertificate, ClientUpdate, FLClient, PerformanceMetric,
                     TrainingDataset, TrainingExecution, TrainingRound)
from .services import aggregation as aggregation_services
from .services import clients as client_services
from .services import executions as execution_services
from .services.queue import execution_queue

__all__ = ["TrainingExecutionAdmin", "FLClientAdmin", "StartTrainingForm"]


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


def _metric(metrics: dict, phase: str, name: str) -> str:
    return _fmt(((metrics or {}).get(phase) or {}).get(name))


class RoundMetricsMixin:
    @admin.display(description="loss")
    def loss(self, obj) -> str:
        return _metric(obj.metrics, "evaluate", "eval-loss")

    @admin.display(description="accuracy")
    def accuracy(self, obj) -> str:
        return _metric(obj.metrics, "evaluate", "eval-accuracy")

    @admin.display(description="train loss")
    def train_loss(self, obj) -> str:
        return _metric(obj.metrics, "train", "train-loss")


class RoundInline(RoundMetricsMixin, ReadOnlyInline):
    model = TrainingRound
    fields = ("round_number", "status", "accepted", "loss", "accuracy", "train_loss", "started_at", "completed_at")


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _task_link(task_id: str):
    if not task_id:
        return "-"
    url = reverse("admin:django_celery_results_taskresult_changelist") + "?" + urlencode({"task_id": task_id})
    return format_html('<a href="{}">{}</a>', url, task_id[:8])


@admin.register(TrainingExecution)
class TrainingExecutionAdmin(ServiceWrittenAdmin):
    list_display = ("id", "status", "runtime", "algorithm", "model_type", "current_round", "total_rounds",
                    "participating_clients", "latest_loss", "latest_accuracy", "error_code", "worker",
                    "celery_task", "created_at")
    list_filter = ("status", "runtime", "algorithm", "model_type", "error_code", "worker")
    search_fields = ("=id", "algorithm", "worker", "celery_task_id", "error_message", "stop_reason")
    date_hierarchy = "created_at"
    readonly_fields = ("celery_task", "task_state")
    inlines = [RoundInline]
    actions = ("stop_executions", "resume_executions", "trigger_aggregation")

    def get_list_display(self, request):
        snapshot = []  # once per page, and only when the page shows a queued execution

        @admin.display(description="queue")
        def queue_position(obj) -> str:
            if obj.status != ExecutionStatus.QUEUED:
                return "-"
            if not snapshot:
                snapshot.append(execution_queue())
            entry = snapshot[0].entry(obj.pk)
            if entry is None:
                return "-"
            wait = entry.estimated_start_seconds
            return f"#{entry.position}" + ("" if wait is None else f", starts in ~{_duration(wait)}")

        display = list(super().get_list_display(request))
        display.insert(display.index("status") + 1, queue_position)
        return display

    @admin.display(description="Celery task", ordering="celery_task_id")
    def celery_task(self, obj):
        return _task_link(obj.celery_task_id)

    @admin.display(description="task state")
    def task_state(self, obj) -> str:
        from django_celery_results.models import TaskResult

        row = TaskResult.objects.filter(task_id=obj.celery_task_id).only("status", "worker").first() \
            if obj.celery_task_id else None
        return f"{row.status} on {row.worker or '?'}" if row else "-"

    @admin.display(description="loss")
    def latest_loss(self, obj) -> str:
        return _fmt((obj.metrics or {}).get("loss"))

    @admin.display(description="accuracy")
    def latest_accuracy(self, obj) -> str:
        return _fmt((obj.metrics or {}).get("accuracy"))

    @admin.action(description="Stop selected executions (between rounds)")
    def stop_executions(self, request, queryset):
        act(self, request, queryset, action="stop",
            call=lambda e: execution_services.execution_stop(execution_id=e.pk, reason=f"stopped by {request.user} "
                                                                                        "from the admin"),
            success=lambda e, r: f"{e.pk}: {r.status}")

    @admin.action(description="Resume selected executions from their last checkpoint")
    def resume_executions(self, request, queryset):
        act(self, request, queryset, action="resume",
            call=lambda e: execution_services.execution_resume(execution_id=e.pk),
            success=lambda e, r: f"{e.pk}: resumed from round {r.resume_from_round}")

    @admin.action(description="Trigger aggregation of the next round (all sampled clients)")
    def trigger_aggregation(self, request, queryset):
        act(self, request, queryset, action="trigger_aggregation",
            call=lambda e: aggregation_services.aggregation_trigger(
                execution_id=e.pk, round_number=None, client_ids=[], wait_for_all=False),
            success=lambda e, r: f"{e.pk}: aggregation of round {r['trigger']['round']} triggered")


def _algorithms() -> list[tuple[str, str]]:
    return [*Algorithm.choices, *((name, name) for name in settings.FLCORE_STRATEGY_PLUGINS)]


class PrettyJSONField(forms.JSONField):
    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value  # what the operator typed, to correct
        return json.dumps(value, indent=2)


class StartTrainingForm(forms.Form):
    algorithm = forms.ChoiceField(choices=_algorithms)
    rounds = forms.IntegerField(min_value=1, max_value=10_000, initial=3)
    config = PrettyJSONField(widget=forms.Textarea(attrs={"rows": 16, "cols": 80}),
                             help_text="The body of POST /api/v1/fl/executions, without algorithm, clients "
                                       "and rounds (those come from this form and the selection).")

    @staticmethod
    def initial_for(n_clients: int) -> dict:
        return {"algorithm": Algorithm.FEDAVG, "rounds": 3, "config": {
            "modelType": "classification",
            "config": {"minClients": n_clients, "clientFraction": 1.0, "localEpochs": 1, "batchSize": 32,
                       "learningRate": 0.1, "inputDim": 64, "numClasses": 10, "hiddenDim": 64}}}

    def request_body(self, client_ids: list[str]) -> dict:
        body = self.cleaned_data["config"]
        if not isinstance(body, dict) or not isinstance(body.get("config", {}), dict):
            raise forms.ValidationError("must be a JSON object with a \"config\" object")
        return {**body, "algorithm": self.cleaned_data["algorithm"], "clients": client_ids,
                "config": {**body.get("config", {}), "rounds": self.cleaned_data["rounds"]}}


def _flatten(errors) -> list[str]:
    """Each failing field as "path: message", led by the seed code the API answers for it (FL007: ...)."""
    lines = []
    for path, message in field_errors(errors):
        text, code = f"{path}: {message}" if path else message, code_for(path)
        lines.append(text if code == ErrorCode.VALIDATION_ERROR else f"{code}: {text}")
    return lines


@admin.register(FLClient)
class FLClientAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "compute", "region", "node_id", "current_execution", "last_seen", "created_at")
    list_filter = ("status", "compute", "region")
    search_fields = ("=id", "name", "region", "node_id")
    date_hierarchy = "created_at"
    raw_id_fields = ("current_execution", "owner")
    list_select_related = ("current_execution",)
    # Status comes from the clients' reports, identity from registration (node keys on the SuperLink).
    readonly_fields = ("status", "compute", "region", "node_id", "public_key", "current_execution", "owner",
                       "capability", "data_profile", "location", "performance", "last_seen", "created_at")
    actions = ("start_training", "revoke")

    def has_add_permission(self, request):
        return False  # clients register through the API or fedplane-client, which sets up their node

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Start a training with the selected clients")
    def start_training(self, request, queryset):
        clients = list(queryset)
        client_ids = [str(c.pk) for c in clients]
        form = bound(StartTrainingForm, request, initial=StartTrainingForm.initial_for(len(clients)))
        if form.is_valid():
            execution = self._start(request, form, client_ids)
            if execution is not None:
                self.message_user(request, f"Training execution {execution.pk} started with {len(clients)} "
                                           f"client(s) ({execution.algorithm}, {execution.total_rounds} rounds).",
                                  messages.SUCCESS)
                return redirect(reverse("admin:flcore_trainingexecution_change", args=[execution.pk]))
        return action_page(self, request, clients, form, title="Start a training", submit="Start training",
                           intro="The execution is created and queued exactly as POST /api/v1/fl/executions "
                                 "would, with the selected clients assigned as trainers.")

    @admin.action(description="Revoke selected clients (unregister their Flower nodes)")
    def revoke(self, request, queryset):
        act(self, request, queryset, lambda client: client_services.client_revoke(client_id=client.pk),
            action="revoke", success=lambda client, _: f"{client.name} revoked; its Flower node is unregistered.")

    def _start(self, request, form: StartTrainingForm, client_ids: list[str]):
        """The execution, or None with the reasons added to the form."""
        try:
            body = form.request_body(client_ids)
        except forms.ValidationError as exc:
            form.add_error("config", exc)
            return None
        payload = ExecutionCreateSerializer(data=body)
        if not payload.is_valid():
            form.add_error("config", _flatten(payload.errors))
            return None
        data = payload.validated_data
        try:
            execution = execution_services.execution_create(
                user=request.user, model_type=data["modelType"], algorithm=data["algorithm"], config=data["config"],
                privacy_config=data.get("privacyConfig"), client_ids=[str(c) for c in data.get("clients", [])])
        except DomainError as exc:
            form.add_error(None, f"{exc.code}: {exc.message}")
            audit(request, target="-", action="start_training", status=exc.status)
            return None
        audit(request, target=str(execution.pk), action="start_training", status=202)
        self.log_addition(request, execution, "Started from the admin with the selected clients")
        return execution


@admin.register(TrainingRound)
class TrainingRoundAdmin(RoundMetricsMixin, ReadOnlyAdmin):
    list_display = ("execution", "round_number", "status", "accepted", "loss", "accuracy", "train_loss",
                    "straggler_count", "started_at", "completed_at")
    list_filter = ("status", "accepted")
    search_fields = ("=execution__id", "flower_run_id")
    date_hierarchy = "started_at"
    list_select_related = ("execution",)
    raw_id_fields = ("execution",)

    @admin.display(description="stragglers")
    def straggler_count(self, obj) -> str:
        late = obj.stragglers or []
        timed_out = sum(1 for s in late if s.get("timedOut"))
        return f"{len(late)} ({timed_out} timed out)" if timed_out else str(len(late))


@admin.register(ClientUpdate)
class ClientUpdateAdmin(ReadOnlyAdmin):
    list_display = ("round", "phase", "client", "node_id", "partition_id", "num_examples", "duration_seconds",
                    "received_at")
    list_filter = ("phase",)
    search_fields = ("=round__execution__id", "node_id", "client__name")
    date_hierarchy = "received_at"
    list_select_related = ("round", "client")
    raw_id_fields = ("round", "client")


@admin.register(AggregatedModel)
class AggregatedModelAdmin(ReadOnlyAdmin):
    list_display = ("execution", "round_number", "algorithm", "sha256", "size_bytes", "created_at")
    list_filter = ("algorithm",)
    search_fields = ("=execution__id", "sha256")
    date_hierarchy = "created_at"
    list_select_related = ("execution",)
    raw_id_fields = ("execution", "round")


@admin.register(ClientAssignment)
class ClientAssignmentAdmin(ReadOnlyAdmin):
    list_display = ("execution", "client", "role", "assigned_at")
    list_filter = ("role",)
    search_fields = ("=execution__id", "client__name")
    date_hierarchy = "assigned_at"
    list_select_related = ("execution", "client")
    raw_id_fields = ("execution", "client")


@admin.register(ClientCertificate)
class ClientCertificateAdmin(ReadOnlyAdmin):
    """Issued by the client CA on a CSR (the API), revoked with their client: read-only here."""
    list_display = ("serial", "client", "not_before", "not_after", "revoked_at")
    search_fields = ("=serial", "=fingerprint", "client__name")
    date_hierarchy = "issued_at"
    list_select_related = ("client",)
    raw_id_fields = ("client",)


@admin.register(PerformanceMetric)
class PerformanceMetricAdmin(ReadOnlyAdmin):
    list_display = ("recorded_at", "kind", "name", "value", "node_type", "execution", "client", "round_number")
    list_filter = ("kind", "node_type", "name")
    search_fields = ("name", "=execution__id", "client__name")
    date_hierarchy = "recorded_at"
    list_select_related = ("execution", "client")
    raw_id_fields = ("execution", "client")


class StartSimulationForm(forms.Form):
    algorithm = forms.ChoiceField(choices=_algorithms)
    rounds = forms.IntegerField(min_value=1, max_value=10_000, initial=3)
    num_supernodes = forms.IntegerField(min_value=1, initial=10, label="virtual clients")
    partitioning = forms.ChoiceField(choices=[("iid", "IID"), ("dirichlet", "Dirichlet(alpha)")], initial="iid")
    alpha = forms.FloatField(min_value=1e-6, initial=0.5, help_text="Dirichlet only: small values, fewer labels each")
    seed = forms.IntegerField(min_value=0, initial=0)

    def request_body(self, dataset_id: str) -> dict:
        data = self.cleaned_data
        return {"algorithm": data["algorithm"], "runtime": "simulation", "config": {
            "rounds": data["rounds"], "minClients": data["num_supernodes"], "numSupernodes": data["num_supernodes"],
            "dataset": dataset_id, "partitioning": {"method": data["partitioning"], "alpha": data["alpha"],
                                                    "seed": data["seed"]}}}


@admin.register(TrainingDataset)
class TrainingDatasetAdmin(ReadOnlyAdmin):
    """Uploaded through POST /api/v1/fl/datasets; start a simulation on one from here."""
    list_display = ("name", "file_format", "num_samples", "num_features", "num_classes", "size_bytes", "sha256",
                    "created_by", "created_at")
    list_filter = ("file_format",)
    search_fields = ("=id", "name", "sha256")
    date_hierarchy = "created_at"
    actions = ("start_simulation",)

    @admin.action(description="Start a simulation on the selected dataset")
    def start_simulation(self, request, queryset):
        datasets = list(queryset)
        if len(datasets) != 1:
            self.message_user(request, "Select exactly one dataset.", messages.ERROR)
            return None
        form = bound(StartSimulationForm, request, initial={})
        if form.is_valid():
            payload = ExecutionCreateSerializer(data=form.request_body(str(datasets[0].pk)))
            if not payload.is_valid():
                form.add_error(None, _flatten(payload.errors))
            else:
                data = payload.validated_data
                try:
                    execution = execution_services.execution_create(
                        user=request.user, model_type=data["modelType"], algorithm=data["algorithm"],
                        config=data["config"], runtime=data["runtime"], backend_config=data.get("backendConfig"))
                except DomainError as exc:
                    form.add_error(None, f"{exc.code}: {exc.message}")
                    audit(request, target=str(datasets[0].pk), action="start_simulation", status=exc.status)
                else:
                    audit(request, target=str(execution.pk), action="start_simulation", status=202)
                    self.message_user(request, f"Simulation {execution.pk} queued: {data['config']['numSupernodes']} "
                                               f"virtual clients on {datasets[0].name}.", messages.SUCCESS)
                    return redirect(reverse("admin:flcore_trainingexecution_change", args=[execution.pk]))
        return action_page(self, request, datasets, form, title="Start a simulation", submit="Start simulation",
                           intro="The execution is created and queued exactly as POST /api/v1/fl/executions with "
                                 "runtime \"simulation\" would; each virtual client trains on one partition.")
