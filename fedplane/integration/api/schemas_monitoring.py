"""OpenAPI shapes of the monitoring endpoints (documentation only: the services build the bodies)."""
from __future__ import annotations

from rest_framework import serializers

from ..services.dependencies import KINDS

__all__ = ["IntegrationHealthSerializer", "DependencyGraphSerializer", "PerformanceOverviewSerializer"]

_STATUS = ["healthy", "degraded", "down", "unknown"]


class HealthComponentSerializer(serializers.Serializer):
    status = serializers.CharField(help_text=" | ".join(_STATUS))
    latencyMs = serializers.FloatField(allow_null=True)
    detail = serializers.DictField()


class HealthComponentsSerializer(serializers.Serializer):
    database = HealthComponentSerializer()
    broker = HealthComponentSerializer()
    channelLayer = HealthComponentSerializer()
    workers = HealthComponentSerializer(help_text="Celery workers: broadcast ping plus running executions' heartbeats.")
    flowerServers = HealthComponentSerializer(help_text="The SuperLink of each running execution (TCP connect).")
    regions = HealthComponentSerializer(help_text="Each region's last stored probe.")
    modules = HealthComponentSerializer(help_text="Applications' stored health and remote modules in error.")


class IntegrationHealthSerializer(serializers.Serializer):
    status = serializers.CharField(help_text=" | ".join(_STATUS[:3]))
    components = HealthComponentsSerializer()
    timestamp = serializers.DateTimeField()


class DependencyNodeSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="<kind>:<pk>")
    kind = serializers.ChoiceField(choices=KINDS)
    ref = serializers.CharField()
    label = serializers.CharField()
    status = serializers.CharField()
    dependencies = serializers.ListField(child=serializers.DictField(), required=False,
                                         help_text="view=list: outgoing edges {target, relation}")
    dependents = serializers.ListField(child=serializers.DictField(), required=False,
                                       help_text="view=list: incoming edges {source, relation}")


class DependencyEdgeSerializer(serializers.Serializer):
    source = serializers.CharField()
    target = serializers.CharField()
    relation = serializers.ChoiceField(choices=["hosts", "uses", "triggers", "involves", "deployed-to", "produces",
                                                "required-by", "promoted-to"])


class DependencyGraphSerializer(serializers.Serializer):
    view = serializers.ChoiceField(choices=["graph", "list", "matrix"])
    depth = serializers.IntegerField()
    roots = serializers.ListField(child=serializers.CharField())
    nodes = DependencyNodeSerializer(many=True, help_text="view=matrix: in matrix order")
    edges = DependencyEdgeSerializer(many=True, required=False, help_text="view=graph")
    matrix = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()), required=False,
                                   help_text="view=matrix: 1 where row depends on column")
    relations = serializers.ListField(child=serializers.ListField(child=serializers.CharField(allow_null=True)),
                                      required=False, help_text="view=matrix: the relation name of each 1")


class PerformanceOverviewSerializer(serializers.Serializer):
    systems = serializers.ChoiceField(choices=["federation", "fl", "both"])
    period = serializers.ChoiceField(choices=["1h", "24h", "7d", "30d"])
    to = serializers.DateTimeField()
    federation = serializers.DictField(required=False, help_text="ModuleMetric: requests, errors, loadTime p50/p95")
    fl = serializers.DictField(required=False, help_text="executions, rounds, clientUpdates, metrics, running")
    regions = serializers.DictField(required=False, help_text="RequestMetric (systems=both): p95, error rate, "
                                                              "throughput, byRegion")


# `from` is a Python keyword: add the field by name.
PerformanceOverviewSerializer._declared_fields["from"] = serializers.DateTimeField()
