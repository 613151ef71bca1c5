"""OpenAPI shapes of the Module Federation bodies that services build as dicts
(documentation only: the views render what the services return)."""
from __future__ import annotations

from rest_framework import serializers

from ..choices import ModuleStatus
from .serializers import RequiredVersionField

__all__ = ["ModuleGraphSerializer", "ModuleLoadedSerializer", "ModuleMetricsSerializer", "ResolutionSerializer",
           "RuntimeConfigSerializer", "ReloadRequestedSerializer", "TelemetryAcceptedSerializer"]


class ModuleGraphNodeSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    version = serializers.CharField()
    applicationId = serializers.UUIDField()


class ModuleGraphEdgeSerializer(serializers.Serializer):
    to = serializers.UUIDField(help_text="the consumed remote")


# `from` is a Python keyword: add the field by name.
ModuleGraphEdgeSerializer._declared_fields["from"] = serializers.UUIDField(help_text="the consuming remote")


class ModuleGraphSerializer(serializers.Serializer):
    nodes = ModuleGraphNodeSerializer(many=True)
    edges = ModuleGraphEdgeSerializer(many=True)


class ModuleLoadedSerializer(serializers.Serializer):
    moduleId = serializers.UUIDField()
    status = serializers.ChoiceField(choices=ModuleStatus.choices)
    url = serializers.CharField(help_text="what was loaded: the remote entry, or the fallback")
    loadTime = serializers.FloatField(help_text="milliseconds")
    size = serializers.IntegerField(help_text="bytes")
    usedFallback = serializers.BooleanField()
    exposedModules = serializers.ListField(child=serializers.CharField())
    eventId = serializers.IntegerField(help_text="the module.loaded event")


class ModuleLoadTimeSerializer(serializers.Serializer):
    p50 = serializers.FloatField(allow_null=True)
    p95 = serializers.FloatField(allow_null=True)
    avg = serializers.FloatField(allow_null=True)
    samples = serializers.IntegerField()


class ModuleSizeSerializer(serializers.Serializer):
    latest = serializers.IntegerField(allow_null=True)
    avg = serializers.FloatField(allow_null=True)


class ModuleErrorsSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    rate = serializers.FloatField()


class ModuleRequestsSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    byKind = serializers.DictField(child=serializers.IntegerField(), help_text="load, telemetry")


class ModuleMetricsSerializer(serializers.Serializer):
    moduleId = serializers.UUIDField()
    period = serializers.CharField()
    to = serializers.DateTimeField()
    loadTime = ModuleLoadTimeSerializer(required=False)
    size = ModuleSizeSerializer(required=False)
    errors = ModuleErrorsSerializer(required=False)
    requests = ModuleRequestsSerializer(required=False)


ModuleMetricsSerializer._declared_fields["from"] = serializers.DateTimeField()


class ResolutionDecisionSerializer(serializers.Serializer):
    application = serializers.CharField()
    applicationId = serializers.UUIDField(allow_null=True)
    package = serializers.CharField()
    requiredVersion = RequiredVersionField(allow_null=True, help_text="false: no version check")
    singleton = serializers.BooleanField()
    strictVersion = serializers.BooleanField()
    version = serializers.CharField(allow_null=True, help_text="the version used; null: none satisfies")
    via = serializers.ChoiceField(choices=["shared", "fallback", "override", "none"])
    rules = serializers.ListField(child=serializers.CharField())
    warnings = serializers.ListField(child=serializers.DictField())
    errors = serializers.ListField(child=serializers.DictField())


ResolutionDecisionSerializer._declared_fields["from"] = serializers.CharField(allow_null=True,
                                                                     help_text="the container whose copy is used")


class ResolvedApplicationSerializer(serializers.Serializer):
    applicationId = serializers.UUIDField()
    name = serializers.CharField()
    shared = serializers.DictField(child=ResolutionDecisionSerializer(), help_text="by package")


class ResolutionSerializer(serializers.Serializer):
    strategy = serializers.CharField()
    runtime = serializers.CharField()
    shareStrategy = serializers.CharField()
    resolved = serializers.BooleanField(help_text="false: a conflict of severity error (MF003)")
    applications = ResolvedApplicationSerializer(many=True)
    scope = serializers.DictField(help_text="{shareScope: {package: [versions provided]}}")
    conflicts = serializers.ListField(child=serializers.DictField())
    warnings = serializers.IntegerField()
    errors = serializers.IntegerField()


class RuntimeConfigSerializer(serializers.Serializer):
    """What a shell loads its remotes and shared packages with."""

    applicationId = serializers.UUIDField()
    name = serializers.CharField()
    publicPath = serializers.CharField(allow_blank=True)
    chunkLoadTimeout = serializers.IntegerField(help_text="milliseconds")
    remotes = serializers.DictField(child=serializers.CharField(), help_text="{remote name: entry URL}")
    extraRemotes = serializers.DictField(help_text="remotes set on the runtime config itself")
    shared = serializers.DictField(help_text="{package: {version, scope, shareConfig: {singleton, requiredVersion, "
                                             "strictVersion, eager}}}")
    sharedOverrides = serializers.DictField(help_text="shareConfig overrides set on the runtime config")
    updatedAt = serializers.DateTimeField()


class ReloadRequestedSerializer(serializers.Serializer):
    applicationId = serializers.UUIDField()
    moduleId = serializers.UUIDField()
    moduleName = serializers.CharField()
    clearCache = serializers.BooleanField()
    entry = serializers.CharField(help_text="the remote entry shells load again")
    version = serializers.CharField()
    requestedAt = serializers.DateTimeField()
    eventId = serializers.IntegerField(help_text="the module.reload event shells receive")


class TelemetryDeploymentSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    trafficPercent = serializers.IntegerField()
    verdict = serializers.CharField(help_text="what the canary's step decided from the reports")
    evidence = serializers.DictField()


class TelemetryAcceptedSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="samples stored")
    variant = serializers.ChoiceField(choices=["stable", "canary"], help_text="which side of a canary the client is on")
    deployment = TelemetryDeploymentSerializer(allow_null=True, help_text="the deployment in progress, if any")
