"""Request and response shapes of the Module Federation API (camelCase, as in the seed)."""
from __future__ import annotations

import uuid

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from fedplane.api.hosts import http_url_error

from ..choices import (ApplicationStatus, DeploymentStrategy, Environment, Framework, LoadStrategy, MetricName,
                       ModuleStatus, Period, ResolveStrategy, ShareStrategy)
from ..models import Application, Deployment, ModuleVersion, RemoteModule, SharedDependency
from ..services.resolution import RUNTIMES
from ..services import semver_mf2, semver_webpack
from ..services.semver import valid_version

__all__ = ["StrictSerializer", "ApplicationSerializer", "ApplicationWriteSerializer", "ModuleSerializer",
           "ModuleWriteSerializer", "ModuleVersionSerializer", "LoadSerializer", "DependencySerializer",
           "DependencyWriteSerializer", "ResolveSerializer", "ResolveShareConfigSerializer", "LoadedVersionSerializer",
           "RequiredVersionField", "RuntimeConfigWriteSerializer", "ReloadSerializer",
           "DeploySerializer", "DeploymentSerializer", "ReasonSerializer", "TelemetrySerializer",
           "MetricsQuerySerializer"]


class StrictSerializer(serializers.Serializer):
    """Rejects fields it does not know, so a typo is an error rather than silently ignored."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = set(data) - set(self.fields)
            if unknown:
                raise serializers.ValidationError({name: "unknown field" for name in sorted(unknown)})
        return super().to_internal_value(data)


def _check_version(value: str) -> str:
    if not valid_version(value):
        raise serializers.ValidationError(f"{value!r} is not a semantic version")
    return value


def _check_range(value: str) -> str:
    # Either runtime may be the one that evaluates it (rule R13): refuse only what neither parses.
    if value not in ("", "*") and not (semver_webpack.accepts_range(value) or semver_mf2.accepts_range(value)):
        raise serializers.ValidationError(f"{value!r} is a version range neither webpack nor the MF 2.0 runtime "
                                          "accepts")
    return value


def _check_url_host(value: str) -> str:
    # Labels of 1-63 characters, no empty one, IDNA-encodable: what the resolver will need at load time.
    # Where the URL may lead (allow-list, link-local) is checked when it is fetched, redirects included.
    invalid = http_url_error(value, refuse_link_local=False)
    if invalid:
        raise serializers.ValidationError(invalid)
    return value


class EntryUrlField(serializers.RegexField):
    """http(s) URL; single-label hosts (a container or k8s service name) are allowed, which
    Django's URLValidator refuses."""

    def __init__(self, **kwargs):
        super().__init__(r"^https?://[A-Za-z0-9._~%-]+(:\d{1,5})?(/[^\s]*)?$", max_length=1000,
                         error_messages={"invalid": "Enter an http(s) URL."}, **kwargs)
        self.validators.append(_check_url_host)


class VersionField(serializers.CharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=64, validators=[_check_version], **kwargs)


class RangeField(serializers.CharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=200, validators=[_check_range], **kwargs)


@extend_schema_field({"oneOf": [{"type": "string", "maxLength": 200}, {"type": "boolean", "enum": [False]}],
                      "description": "a version range, or false: no version check"})
class RequiredVersionField(serializers.Field):
    """A range, or `false`: the consumer accepts any version (webpack consumes it with load /
    loadSingleton; MF 2.0 skips its check). Without it, an empty value meant `^version`."""

    def to_internal_value(self, data):
        if data is False:
            return False
        if not isinstance(data, str):
            raise serializers.ValidationError("a version range (string) or false")
        return RangeField().run_validation(data)

    def to_representation(self, value):
        return value


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


class ApplicationConfigSerializer(serializers.Serializer):
    port = serializers.IntegerField(min_value=1, max_value=65535, required=False)
    publicPath = serializers.CharField(max_length=500, required=False)
    filename = serializers.CharField(max_length=200, required=False)
    shared = serializers.ListField(child=serializers.CharField(max_length=214), required=False)
    chunkLoadTimeout = serializers.IntegerField(min_value=1, max_value=600_000, required=False)


class ApplicationWriteSerializer(StrictSerializer):
    name = serializers.RegexField(r"^[A-Za-z_$][\w$-]{0,99}$", help_text="container-safe name")
    host = serializers.CharField(max_length=500)
    version = VersionField()
    framework = serializers.ChoiceField(choices=Framework.choices)
    status = serializers.ChoiceField(choices=[ApplicationStatus.ACTIVE, ApplicationStatus.INACTIVE], required=False)
    config = ApplicationConfigSerializer(required=False)
    dependencies = serializers.DictField(child=RangeField(), required=False)


class ApplicationSerializer(serializers.ModelSerializer):
    remotes = serializers.SerializerMethodField()
    metrics = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    class Meta:
        model = Application
        fields = ["id", "name", "host", "version", "status", "health", "framework", "remotes", "config", "metrics",
                  "dependencies", "createdAt", "updatedAt"]

    def get_remotes(self, obj) -> list[dict]:
        return [{"id": str(m.pk), "name": m.name, "url": m.url, "version": m.version, "status": m.status}
                for m in obj.modules.all()]

    def get_metrics(self, obj) -> dict:
        modules = list(obj.modules.all())
        loaded = [m for m in modules if m.load_time]
        return {"modules": len(modules),
                "avgLoadTime": round(sum(m.load_time for m in loaded) / len(loaded), 2) if loaded else None,
                "totalSize": sum(m.size for m in modules), "modulesInError": sum(m.status == "error" for m in modules)}


class ModuleWriteSerializer(StrictSerializer):
    name = serializers.RegexField(r"^[A-Za-z_$][\w$-]{0,99}$", required=False)
    url = EntryUrlField(required=False)
    manifestUrl = EntryUrlField(required=False)
    applicationId = serializers.UUIDField(required=False)
    version = VersionField(required=False)
    exposedModules = serializers.ListField(child=serializers.CharField(max_length=200), required=False)
    dependencies = serializers.DictField(child=RangeField(), required=False)
    remotes = serializers.ListField(child=serializers.CharField(max_length=100), required=False,
                                    help_text="remotes this remote loads, by id or name")
    status = serializers.ChoiceField(choices=ModuleStatus.choices, required=False)

    def validate(self, attrs):
        if not self.partial:
            if "applicationId" not in attrs:
                raise serializers.ValidationError({"applicationId": "This field is required."})
            if not attrs.get("manifestUrl"):
                missing = [f for f in ("name", "url") if not attrs.get(f)]
                if missing:
                    raise serializers.ValidationError({f: "required unless manifestUrl is given" for f in missing})
        return attrs


class ModuleSerializer(serializers.ModelSerializer):
    applicationId = serializers.UUIDField(source="application_id")
    exposedModules = serializers.JSONField(source="exposed_modules")
    manifestUrl = serializers.CharField(source="manifest_url")
    loadTime = serializers.FloatField(source="load_time")
    lastUpdated = serializers.DateTimeField(source="last_updated")
    remotes = serializers.SerializerMethodField()

    class Meta:
        model = RemoteModule
        fields = ["id", "name", "url", "manifestUrl", "applicationId", "exposedModules", "loadTime", "size", "status",
                  "lastUpdated", "version", "dependencies", "remotes"]

    def get_remotes(self, obj) -> list[str]:
        return [str(m.pk) for m in obj.consumes.all()]


class ModuleVersionSerializer(serializers.ModelSerializer):
    changedAt = serializers.DateTimeField(source="changed_at")

    class Meta:
        model = ModuleVersion
        fields = ["url", "version", "change", "changedAt"]


class LoadSerializer(StrictSerializer):
    targetApplication = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    lazy = serializers.BooleanField(default=True)
    fallback = EntryUrlField(required=False, allow_blank=True)  # no default: "" would not match the pattern


class DependencyWriteSerializer(StrictSerializer):
    package = serializers.RegexField(r"^(@[a-z0-9][\w.-]*/)?[a-z0-9][\w.-]*$", max_length=214)
    version = VersionField()
    singleton = serializers.BooleanField(default=False)
    strictVersion = serializers.BooleanField(required=False)
    requiredVersion = RangeField(required=False, allow_blank=True)
    loadStrategy = serializers.ChoiceField(choices=LoadStrategy.choices, default=LoadStrategy.LAZY)
    fallback = serializers.BooleanField(default=True, help_text="false is webpack's import: false")
    shareScope = serializers.CharField(max_length=100, default="default")
    applications = serializers.ListField(child=serializers.UUIDField(), required=False)

    def validated_fields(self) -> dict:
        """Keyword arguments of the dependency services (model field names). Without
        `strictVersion`, a new dependency takes webpack's default: `import !== false &&
        !singleton` (R9 in docs/module-federation.md)."""
        names = {"package": "package", "version": "version", "singleton": "singleton",
                 "requiredVersion": "required_version", "loadStrategy": "load_strategy", "fallback": "fallback",
                 "shareScope": "share_scope", "applications": "applications", "strictVersion": "strict_version"}
        out = {names[key]: value for key, value in self.validated_data.items()}
        if not self.partial and "strict_version" not in out:
            out["strict_version"] = out["fallback"] and not out["singleton"]
        return out


class DependencySerializer(serializers.ModelSerializer):
    strictVersion = serializers.BooleanField(source="strict_version")
    requiredVersion = serializers.CharField(source="required_version")
    loadStrategy = serializers.CharField(source="load_strategy")
    shareScope = serializers.CharField(source="share_scope")
    applications = serializers.SerializerMethodField()

    class Meta:
        model = SharedDependency
        fields = ["id", "package", "version", "singleton", "strictVersion", "requiredVersion", "applications",
                  "loadStrategy", "fallback", "shareScope"]

    def get_applications(self, obj) -> list[str]:
        return [str(a.pk) for a in obj.applications.all()]


class ResolveShareConfigSerializer(StrictSerializer):
    """One application's share config for one package, for this resolution only (what its
    `shared` block in webpack's ModuleFederationPlugin or MF 2.0's init would say)."""

    version = VersionField(required=False, help_text="the version of its own copy; required for a package it "
                                                     "has no dependency row for, unless import is false")
    requiredVersion = RequiredVersionField(required=False)
    singleton = serializers.BooleanField(required=False)
    strictVersion = serializers.BooleanField(required=False)
    eager = serializers.BooleanField(required=False)
    shareScope = serializers.CharField(max_length=100, required=False)


# `import` is a Python keyword: declared by name (false: consumes only, provides no copy of its own)
ResolveShareConfigSerializer._declared_fields["import"] = serializers.BooleanField(
    required=False, help_text="false: webpack's import: false, a consumer that provides nothing")


class LoadedVersionSerializer(StrictSerializer):
    package = serializers.RegexField(r"^(@[a-z0-9][\w.-]*/)?[a-z0-9][\w.-]*$", max_length=214)
    version = VersionField()
    status = serializers.ChoiceField(choices=["loaded", "loading"], default="loaded",
                                     help_text="loading: its load is in flight (MF 2.0 `shared.loading`)")
    shareScope = serializers.CharField(max_length=100, default="default")


LoadedVersionSerializer._declared_fields["from"] = serializers.CharField(
    max_length=100, required=False, help_text="the application (container name) that provided it")


class ResolveSerializer(StrictSerializer):
    applications = serializers.ListField(
        child=serializers.UUIDField(), required=False, default=list,
        help_text="application ids in load order, the shell first; duplicates count once (the first place "
                  "wins); at most FEDERATION_RESOLVE_MAX_APPLICATIONS (1000); empty: every registered application")
    strategy = serializers.ChoiceField(choices=ResolveStrategy.choices, default=ResolveStrategy.HIGHEST)
    overrides = serializers.DictField(child=VersionField(), required=False, default=dict)
    runtime = serializers.ChoiceField(choices=list(RUNTIMES), default="mf2")
    shareStrategy = serializers.ChoiceField(choices=ShareStrategy.choices, default=ShareStrategy.VERSION_FIRST)
    loaded = serializers.DictField(child=VersionField(), required=False, default=dict,
                                   help_text="versions already loaded in the page, {package: version}")
    loadedVersions = serializers.ListField(
        child=LoadedVersionSerializer(), required=False, default=list, max_length=1000,
        help_text="versions already in the page, several per package allowed, each with the application "
                  "that provided it and whether it is loaded or still loading")
    shared = serializers.DictField(
        child=serializers.DictField(child=ResolveShareConfigSerializer()), required=False, default=dict,
        help_text="{applicationId: {package: share config}}: overrides for this resolution only")

    def validate_applications(self, value: list) -> list:
        limit = settings.FEDERATION_RESOLVE_MAX_APPLICATIONS
        if len(value) > limit:
            raise serializers.ValidationError(f"at most {limit} application ids, got {len(value)}")
        return list(dict.fromkeys(value))

    def validate(self, attrs):
        if attrs["strategy"] == ResolveStrategy.MANUAL and not attrs["overrides"]:
            raise serializers.ValidationError({"overrides": "required with strategy=manual"})
        for app_id in attrs["shared"]:
            try:
                uuid.UUID(str(app_id))
            except ValueError:
                raise serializers.ValidationError({"shared": {app_id: "not an application id"}})
        return attrs


class SharedConfigSerializer(StrictSerializer):
    singleton = serializers.BooleanField(required=False)
    requiredVersion = RequiredVersionField(required=False)  # false: MF 2.0 init's "no version check"
    strictVersion = serializers.BooleanField(required=False)
    eager = serializers.BooleanField(required=False)


class RuntimeConfigWriteSerializer(StrictSerializer):
    publicPath = serializers.CharField(max_length=500, required=False)
    chunkLoadTimeout = serializers.IntegerField(min_value=1, max_value=600_000, required=False)
    remotes = serializers.DictField(child=serializers.CharField(max_length=1000), required=False)
    shared = serializers.DictField(child=SharedConfigSerializer(), required=False)

    def validate_remotes(self, value):
        url = EntryUrlField()
        for name, entry in value.items():
            target = entry.split("@", 1)[1] if "@" in entry.split("://", 1)[0] else entry
            try:
                url.run_validation(target)
            except serializers.ValidationError:
                raise serializers.ValidationError({name: "must be an entry URL or name@URL"})
        return value


class ReloadSerializer(StrictSerializer):
    moduleId = serializers.UUIDField()
    clearCache = serializers.BooleanField(default=False)


class DeployModuleSerializer(StrictSerializer):
    moduleId = serializers.CharField(max_length=100)
    url = EntryUrlField(required=False)
    version = VersionField(required=False)


class ThresholdsSerializer(StrictSerializer):
    errorRate = serializers.FloatField(min_value=0, max_value=1, required=False)
    loadTimeMs = serializers.FloatField(min_value=1, required=False, allow_null=True)
    minSamples = serializers.IntegerField(min_value=1, max_value=100_000, required=False)
    autoPromote = serializers.BooleanField(required=False)


class DeployConfigSerializer(StrictSerializer):
    modules = DeployModuleSerializer(many=True, required=False)
    steps = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=100), required=False,
                                  allow_empty=False)
    thresholds = ThresholdsSerializer(required=False)

    def validate_steps(self, value):
        if value != sorted(set(value)) or value[-1] != 100:
            raise serializers.ValidationError("steps must be strictly ascending percentages ending at 100")
        return value


class DeploySerializer(StrictSerializer):
    environment = serializers.ChoiceField(choices=Environment.choices)
    strategy = serializers.ChoiceField(choices=DeploymentStrategy.choices)
    config = DeployConfigSerializer(required=False, default=dict)


class DeploymentSerializer(serializers.ModelSerializer):
    applicationId = serializers.UUIDField(source="application_id")
    trafficPercent = serializers.IntegerField(source="traffic_percent")
    stepIndex = serializers.IntegerField(source="step_index")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    class Meta:
        model = Deployment
        fields = ["id", "applicationId", "environment", "strategy", "status", "targets", "steps", "stepIndex",
                  "trafficPercent", "thresholds", "transitions", "reason", "createdAt", "updatedAt"]


class ReasonSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class TelemetrySampleSerializer(StrictSerializer):
    moduleId = serializers.CharField(max_length=100, required=False)
    module = serializers.CharField(max_length=100, required=False)
    loadTime = serializers.FloatField(min_value=0, max_value=3_600_000, required=False, allow_null=True)
    size = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    error = serializers.CharField(max_length=500, required=False, allow_blank=True, allow_null=True)

    def validate(self, attrs):
        if not attrs.get("moduleId") and not attrs.get("module"):
            raise serializers.ValidationError({"moduleId": "moduleId or module (name) is required"})
        return attrs


class TelemetrySerializer(StrictSerializer):
    applicationId = serializers.CharField(max_length=100)
    environment = serializers.ChoiceField(choices=Environment.choices)
    clientId = serializers.CharField(max_length=200)
    samples = TelemetrySampleSerializer(many=True, allow_empty=False, max_length=1000)


class MetricsQuerySerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=Period.choices, default=Period.H24)
    metrics = serializers.CharField(required=False, allow_blank=True, default="")

    def validate_metrics(self, value):
        names = [m.strip() for m in value.split(",") if m.strip()]
        unknown = sorted(set(names) - set(MetricName.values))
        if unknown:
            raise serializers.ValidationError(f"unknown metrics {unknown}; known: {sorted(MetricName.values)}")
        return names
