"""Admin console of the multi-region app. Operations (replicate, deploy, fail over, roll back) are
actions calling the services the API uses; the records they create are never edited by hand."""
from __future__ import annotations

from django import forms
from django.contrib import admin

from fedplane.api.admin import ReadOnlyAdmin, ReadOnlyInline, ServiceWrittenAdmin, act, action_page, bound

from .api.serializers import DeploymentRequestSerializer, FailoverRequestSerializer, ReplicationRequestSerializer
from .choices import DeploymentStrategy, RoutingStatus
from .models import (AsyncPrediction, BillingRecord, Deployment, DeploymentTarget, Failover, ModelVersion,
                     ProbeResult, RegisteredModel, Region, Replica, ReplicationJob, ReplicationTarget, RequestMetric,
                     Serving, UsageRecord)
from .services import deployments, failover, regions as region_services, registry, replication
from .stores import store_url_error

__all__ = ["RegionAdmin", "ModelVersionAdmin", "DeploymentAdmin", "FailoverAdmin", "ReplicationJobAdmin"]


def _requests(serializer_class, form: forms.Form, bodies: dict) -> dict | None:
    """Each object's request body checked by the API's own request serializer, before any is acted
    on: {object: validated data}, or None with the complaints on the form."""
    checked = {}
    for obj, body in bodies.items():
        payload = serializer_class(data=body)
        if not payload.is_valid():
            for field, errors in payload.errors.items():
                if field in form.fields:
                    form.add_error(field, errors)
                else:
                    form.add_error(None, [f"{field}: {error}" for error in errors])
            return None
        checked[obj] = payload.validated_data
    return checked


class RegionChoices(forms.ModelMultipleChoiceField):
    def __init__(self, **kwargs):
        super().__init__(queryset=Region.objects.all(), to_field_name="name",
                         widget=forms.CheckboxSelectMultiple, **kwargs)


class FailOverForm(forms.Form):
    to_region = forms.ModelChoiceField(queryset=Region.objects.filter(routing_status=RoutingStatus.ACTIVE),
                                       to_field_name="name", help_text="Takes the traffic (must be in rotation).")
    drain_timeout_seconds = forms.FloatField(initial=300, help_text="Seconds in-flight requests get to finish.")
    reason = forms.CharField(max_length=200, required=False, initial="manual failover from the admin")


class RegionForm(forms.ModelForm):
    """Where a region may point, by the API's rules (REGIONS_STORE_ALLOWED_ROOTS,
    REGIONS_ENDPOINT_ALLOWED_HOSTS), shown on the form instead of failing on save."""

    class Meta:
        model = Region
        fields = "__all__"

    def clean_store_url(self):
        value = self.cleaned_data.get("store_url", "")
        if why := store_url_error(value):
            raise forms.ValidationError(why)
        return value

    def clean_endpoint(self):
        value = (self.cleaned_data.get("endpoint") or "").rstrip("/")
        if value and (why := region_services.endpoint_error(value)):
            raise forms.ValidationError(why)
        return value


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    form = RegionForm
    list_display = ("name", "endpoint", "routing_status", "health_status", "priority", "last_latency_ms",
                    "last_error_rate", "consecutive_failures", "last_probe_at")
    list_filter = ("routing_status", "health_status", "currency")
    search_fields = ("name", "endpoint", "store_url")
    date_hierarchy = "created_at"
    # Routing changes only through failover (and its rollback); health only through probes.
    readonly_fields = ("routing_status", "health_status", "consecutive_failures", "last_latency_ms",
                       "last_error_rate", "last_probe_at", "config_version", "config_synced_version", "created_at")
    actions = ("fail_over",)

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "name") if obj else self.readonly_fields  # the routing key

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        """Through the services, so that each change emits its event (and config gets a new version)."""
        if change:
            changed = {f: form.cleaned_data[f] for f in form.changed_data if f != "config"}
            if changed:
                region_services.region_update(name=obj.name, **changed)
            if "config" in form.changed_data:
                region_services.region_config_set(name=obj.name, config=form.cleaned_data["config"])
        else:
            created = region_services.region_create(name=obj.name, endpoint=obj.endpoint, store_url=obj.store_url,
                                                    priority=obj.priority, config=obj.config)
            fields = {f: form.cleaned_data[f] for f in form.changed_data
                      if f not in ("name", "endpoint", "store_url", "priority", "config")}
            if fields:
                created = region_services.region_update(name=created.name, **fields)
            obj.pk, obj.store_url = created.pk, created.store_url

    @admin.action(description="Fail over the selected regions")
    def fail_over(self, request, queryset):
        form = bound(FailOverForm, request)
        if form.is_valid():
            to_region = form.cleaned_data["to_region"].name
            requests = _requests(FailoverRequestSerializer, form, {
                region: {**form.cleaned_data, "from_region": region.name, "to_region": to_region}
                for region in queryset})
            if requests is not None:
                act(self, request, requests, lambda r: failover.failover_start(**requests[r]), action="fail_over",
                    success=lambda r, row: f"{r.name}: failover {row.id} to {row.to_region.name} {row.status}")
                return None
        return action_page(self, request, queryset, form, title="Fail over regions", submit="Fail over",
                           intro="Each selected region stops taking new traffic, drains its in-flight requests "
                                 "within the timeout, and the target region serves in its place.")


@admin.register(ProbeResult)
class ProbeResultAdmin(ReadOnlyAdmin):
    list_display = ("at", "region", "ok", "latency_ms", "status_code", "inflight", "error")
    list_filter = ("ok", "region")
    search_fields = ("region__name", "error")
    date_hierarchy = "at"
    list_select_related = ("region",)


class VersionInline(ReadOnlyInline):
    model = ModelVersion
    fields = ("version", "format", "home_region", "size_bytes", "sha256", "created_at")


@admin.register(RegisteredModel)
class RegisteredModelAdmin(admin.ModelAdmin):
    list_display = ("name", "description", "created_by", "created_at")
    search_fields = ("name", "description")
    date_hierarchy = "created_at"
    raw_id_fields = ("created_by",)
    readonly_fields = ("created_by", "created_at")
    inlines = [VersionInline]

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "name") if obj else self.readonly_fields  # name is the seed's model_id

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
        else:
            obj.pk = registry.model_create(name=obj.name, description=obj.description, user=request.user).pk


class ReplicateForm(forms.Form):
    target_regions = RegionChoices()
    verify_checksum = forms.BooleanField(required=False, initial=True,
                                         help_text="Compare each copy's sha256 with the source's.")


class DeployForm(forms.Form):
    strategy = forms.ChoiceField(choices=DeploymentStrategy.choices, initial=DeploymentStrategy.ROLLING)
    regions = RegionChoices(help_text="Rolled out in priority order; the version must be replicated there.")
    validation_period_seconds = forms.FloatField(initial=300, help_text="Observation time before a region counts "
                                                                         "as deployed.")
    canary_percent = forms.IntegerField(initial=10, help_text="Traffic share the canary gets first.")
    rollback_on_failure = forms.BooleanField(required=False, initial=True)


@admin.register(ModelVersion)
class ModelVersionAdmin(ServiceWrittenAdmin):
    list_display = ("__str__", "model", "version", "format", "home_region", "size_bytes", "sha256", "created_at")
    list_filter = ("format", "home_region")
    search_fields = ("version", "model__name", "sha256")
    date_hierarchy = "created_at"
    list_select_related = ("model", "home_region")
    raw_id_fields = ("model", "home_region")
    actions = ("replicate", "deploy")

    @admin.action(description="Replicate the selected versions to other regions")
    def replicate(self, request, queryset):
        form = bound(ReplicateForm, request)
        if form.is_valid():
            targets = [r.name for r in form.cleaned_data["target_regions"]]
            requests = _requests(ReplicationRequestSerializer, form, {
                v: {"model_id": v.model.name, "version": v.version, "source_region": v.home_region.name,
                    "target_regions": targets, "verify_checksum": form.cleaned_data["verify_checksum"]}
                for v in queryset.select_related("model", "home_region")})
            if requests is not None:
                act(self, request, requests,
                    lambda v: replication.replication_start(user=request.user, **requests[v]), action="replicate",
                    success=lambda v, job: f"{v}: replication {job.id} to {', '.join(targets)} {job.status}")
                return None
        return action_page(self, request, queryset, form, title="Replicate model versions", submit="Replicate",
                           intro="Copies each version's artifact from its home region to the target regions.")

    @admin.action(description="Deploy the selected versions")
    def deploy(self, request, queryset):
        form = bound(DeployForm, request)
        if form.is_valid():
            regions = [r.name for r in form.cleaned_data["regions"]]
            requests = _requests(DeploymentRequestSerializer, form, {
                v: {**form.cleaned_data, "regions": regions, "model_id": v.model.name, "version": v.version}
                for v in queryset.select_related("model")})
            if requests is not None:
                act(self, request, requests,
                    lambda v: deployments.deployment_start(user=request.user, **requests[v]), action="deploy",
                    success=lambda v, d: f"{v}: deployment {d.id} ({d.strategy}) {d.status}")
                return None
        return action_page(self, request, queryset, form, title="Deploy model versions", submit="Deploy",
                           intro="Serves each version in the chosen regions with the chosen strategy, "
                                 "validating as it goes and rolling back on failure when asked to.")


@admin.register(Replica)
class ReplicaAdmin(ReadOnlyAdmin):
    list_display = ("version", "region", "status", "size_bytes", "sha256", "stored_since", "updated_at")
    list_filter = ("status", "region")
    search_fields = ("version__model__name", "version__version", "sha256")
    date_hierarchy = "updated_at"
    list_select_related = ("version__model", "region")
    raw_id_fields = ("version", "region")


@admin.register(Serving)
class ServingAdmin(ReadOnlyAdmin):
    list_display = ("model", "region", "version", "canary_version", "canary_percent", "updated_at")
    list_filter = ("region",)
    search_fields = ("model__name",)
    date_hierarchy = "updated_at"
    list_select_related = ("model", "region", "version__model", "canary_version__model")
    raw_id_fields = ("model", "region", "version", "canary_version")


def _roll_back(modeladmin, request, queryset, service, key: str):
    act(modeladmin, request, queryset, lambda row: service(**{key: row.pk}), action="roll_back",
        success=lambda row, r: f"{row.pk}: {r.status}")


class ReplicationTargetInline(ReadOnlyInline):
    model = ReplicationTarget
    fields = ("region", "status", "attempts", "bytes_transferred", "duration_seconds", "sha256", "error")


@admin.register(ReplicationJob)
class ReplicationJobAdmin(ServiceWrittenAdmin):
    list_display = ("id", "version", "source_region", "status", "verify_checksum", "requested_by", "created_at",
                    "completed_at")
    list_filter = ("status", "verify_checksum", "source_region")
    search_fields = ("=id", "version__model__name", "version__version")
    date_hierarchy = "created_at"
    list_select_related = ("version__model", "source_region", "requested_by")
    raw_id_fields = ("version", "source_region", "requested_by")
    inlines = [ReplicationTargetInline]
    actions = ("roll_back",)

    @admin.action(description="Roll back the selected replications (remove the copies they made)")
    def roll_back(self, request, queryset):
        _roll_back(self, request, queryset, replication.replication_rollback, "replication_id")


@admin.register(ReplicationTarget)
class ReplicationTargetAdmin(ReadOnlyAdmin):
    list_display = ("job", "region", "status", "attempts", "bytes_transferred", "duration_seconds", "completed_at")
    list_filter = ("status", "region")
    search_fields = ("=job__id", "sha256", "error")
    list_select_related = ("job", "region")
    raw_id_fields = ("job", "region")


class DeploymentTargetInline(ReadOnlyInline):
    model = DeploymentTarget
    fields = ("position", "region", "status", "previous_version", "observed", "validation_started_at")


@admin.register(Deployment)
class DeploymentAdmin(ServiceWrittenAdmin):
    list_display = ("id", "model", "version", "strategy", "status", "canary_percent", "requested_by", "started_at",
                    "completed_at")
    list_filter = ("strategy", "status", "rollback_on_failure")
    search_fields = ("=id", "model__name", "version__version", "error")
    date_hierarchy = "started_at"
    list_select_related = ("model", "version__model", "requested_by")
    raw_id_fields = ("model", "version", "requested_by")
    inlines = [DeploymentTargetInline]
    actions = ("roll_back",)

    @admin.action(description="Roll back the selected deployments")
    def roll_back(self, request, queryset):
        _roll_back(self, request, queryset, deployments.deployment_rollback, "deployment_id")


@admin.register(DeploymentTarget)
class DeploymentTargetAdmin(ReadOnlyAdmin):
    list_display = ("deployment", "position", "region", "status", "previous_version", "validation_started_at")
    list_filter = ("status", "region")
    search_fields = ("=deployment__id",)
    list_select_related = ("deployment", "region", "previous_version__model")
    raw_id_fields = ("deployment", "region", "previous_version")


@admin.register(Failover)
class FailoverAdmin(ServiceWrittenAdmin):
    list_display = ("id", "from_region", "to_region", "status", "automatic", "drained", "inflight_at_start",
                    "inflight_at_end", "initiated_at", "completed_at")
    list_filter = ("status", "automatic", "drained", "from_region")
    search_fields = ("=id", "reason", "from_region__name", "to_region__name")
    date_hierarchy = "initiated_at"
    list_select_related = ("from_region", "to_region")
    raw_id_fields = ("from_region", "to_region")
    actions = ("roll_back",)

    @admin.action(description="Roll back the selected failovers (regions back in rotation)")
    def roll_back(self, request, queryset):
        _roll_back(self, request, queryset, failover.failover_rollback, "failover_id")


@admin.register(AsyncPrediction)
class AsyncPredictionAdmin(ReadOnlyAdmin):
    list_display = ("id", "model_name", "version", "status", "requested_by", "created_at", "completed_at")
    list_filter = ("status",)
    search_fields = ("=id", "model_name")
    date_hierarchy = "created_at"
    raw_id_fields = ("requested_by",)


@admin.register(RequestMetric)
class RequestMetricAdmin(ReadOnlyAdmin):
    list_display = ("at", "region", "model_name", "version", "latency_ms", "batch_size", "ok", "status_code")
    list_filter = ("ok", "region", "status_code")
    search_fields = ("model_name", "region")
    date_hierarchy = "at"
    show_full_result_count = False  # large table: skip the COUNT(*) of the unfiltered rows


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdmin):
    list_display = ("at", "region", "resource_type", "quantity", "unit", "reference")
    list_filter = ("resource_type", "region")
    search_fields = ("reference",)
    date_hierarchy = "at"
    list_select_related = ("region",)
    show_full_result_count = False


@admin.register(BillingRecord)
class BillingRecordAdmin(ReadOnlyAdmin):
    list_display = ("charge_period_start", "region", "resource_type", "service_name", "billed_cost", "currency")
    list_filter = ("resource_type", "region", "currency")
    search_fields = ("service_name", "resource_id")
    date_hierarchy = "charge_period_start"
