"""Applications, modules and shared dependencies. Views parse, call one service, render."""
from __future__ import annotations

from django.db import transaction
from django.db.models import Case, IntegerField, Prefetch, Value, When
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from fedplane.api.scopes import Scope

from ..filtersets import ApplicationFilterSet, DependencyFilterSet, ModuleFilterSet
from ..models import Application, RemoteModule, SharedDependency
from ..services import applications as app_services
from ..services import dependencies as dep_services
from ..services import deployments as deploy_services
from ..services import graph as graph_services
from ..services import loading, metrics
from ..services import modules as module_services
from . import schemas
from . import serializers as s

__all__ = ["ApplicationViewSet", "ModuleViewSet", "DependencyViewSet"]

_APP_FIELDS = {"name": "name", "host": "host", "version": "version", "framework": "framework", "status": "status",
               "config": "config", "dependencies": "dependencies"}


def _parse(serializer_class, request, **kwargs):
    payload = serializer_class(data=request.data, **kwargs)
    payload.is_valid(raise_exception=True)
    return payload


class ApplicationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = s.ApplicationSerializer
    filterset_class = ApplicationFilterSet
    # sort=health orders by severity (healthy < warning < critical), not alphabetically.
    queryset = Application.objects.prefetch_related("modules").annotate(health_rank=Case(
        When(health="healthy", then=Value(0)), When(health="warning", then=Value(1)),
        When(health="critical", then=Value(2)), default=Value(3), output_field=IntegerField()))
    required_scopes = {"read": Scope.FEDERATION_APPLICATIONS_READ, "write": Scope.FEDERATION_APPLICATIONS_WRITE,
                       "deploy": Scope.FEDERATION_MODULES_DEPLOY}
    search_fields = ["name", "host"]
    sort_fields = {"name": "name", "version": "version", "health": "health_rank", "created_at": "created_at"}
    default_sort = ("name",)

    def get_throttles(self):
        self.throttle_bucket = "deployment" if self.action == "deploy" else None
        return super().get_throttles()

    def retrieve(self, request, pk=None):
        return Response(s.ApplicationSerializer(app_services.application_get(pk)).data)

    @extend_schema(request=s.ApplicationWriteSerializer, responses={201: s.ApplicationSerializer})
    @transaction.atomic  # the response is read before the commit: no read after it can fail
    def create(self, request):
        data = _parse(s.ApplicationWriteSerializer, request).validated_data
        app = app_services.application_create(**{_APP_FIELDS[k]: v for k, v in data.items()})
        return Response(s.ApplicationSerializer(app).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ApplicationWriteSerializer, responses={200: s.ApplicationSerializer})
    def update(self, request, pk=None):
        data = _parse(s.ApplicationWriteSerializer, request, partial=True).validated_data
        app = app_services.application_update(application_id=pk, **{_APP_FIELDS[k]: v for k, v in data.items()})
        return Response(s.ApplicationSerializer(app).data)

    def destroy(self, request, pk=None):
        app_services.application_delete(application_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=s.DeploySerializer, responses={202: s.DeploymentSerializer})
    @action(detail=True, methods=["post"])
    def deploy(self, request, pk=None):
        data = _parse(s.DeploySerializer, request).validated_data
        deployment = deploy_services.application_deploy(application_id=pk, environment=data["environment"],
                                                        strategy=data["strategy"], config=dict(data["config"]))
        return Response(s.DeploymentSerializer(deployment).data, status=status.HTTP_202_ACCEPTED)


class ModuleViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = s.ModuleSerializer
    filterset_class = ModuleFilterSet
    queryset = RemoteModule.objects.prefetch_related("consumes")
    required_scopes = {"read": Scope.FEDERATION_APPLICATIONS_READ, "write": Scope.FEDERATION_APPLICATIONS_WRITE}
    search_fields = ["name", "url"]
    sort_fields = {"name": "name", "version": "version", "load_time": "load_time", "created_at": "created_at"}
    default_sort = ("name",)

    def retrieve(self, request, pk=None):
        return Response(s.ModuleSerializer(module_services.module_get(pk)).data)

    @extend_schema(request=s.ModuleWriteSerializer, responses={201: s.ModuleSerializer})
    def create(self, request):
        data = dict(_parse(s.ModuleWriteSerializer, request).validated_data)
        module = module_services.module_register(application_id=data.pop("applicationId"), data=data)
        return Response(s.ModuleSerializer(module).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ModuleWriteSerializer, responses={200: s.ModuleSerializer})
    def update(self, request, pk=None):
        data = dict(_parse(s.ModuleWriteSerializer, request, partial=True).validated_data)
        data.pop("applicationId", None)  # a module does not move between applications
        return Response(s.ModuleSerializer(module_services.module_update(module_id=pk, data=data)).data)

    @extend_schema(request=s.LoadSerializer, responses=schemas.ModuleLoadedSerializer)
    @action(detail=True, methods=["post"])
    def load(self, request, pk=None):
        data = _parse(s.LoadSerializer, request).validated_data
        result = loading.module_load(module_id=pk, target_application=data["targetApplication"], lazy=data["lazy"],
                                     fallback=data.get("fallback", ""))
        return Response({"moduleId": str(result.module.pk), "status": result.module.status, "url": result.url,
                         "loadTime": round(result.load_time, 2), "size": result.size,
                         "usedFallback": result.used_fallback, "exposedModules": result.module.exposed_modules,
                         "eventId": result.event_id})

    @extend_schema(parameters=[OpenApiParameter("period", str, enum=["1h", "24h", "7d", "30d"]),
                               OpenApiParameter("metrics", str, description="comma-separated: "
                                                "loadTime,size,errors,requests")],
                   responses=schemas.ModuleMetricsSerializer)
    @action(detail=True, methods=["get"])
    def metrics(self, request, pk=None):
        query = s.MetricsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        module = module_services.module_get(pk)
        return Response(metrics.module_metrics(module, period=query.validated_data["period"],
                                               metrics=query.validated_data["metrics"]))

    @extend_schema(responses={200: s.ModuleVersionSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def history(self, request, pk=None):
        module = module_services.module_get(pk)
        page = self.paginate_queryset(module.history.all())
        return self.get_paginated_response(s.ModuleVersionSerializer(page, many=True).data)

    @extend_schema(parameters=[OpenApiParameter("applicationId", OpenApiTypes.UUID,
                                                description="its remotes only (default: all)")],
                   responses=schemas.ModuleGraphSerializer, filters=False)
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def graph(self, request):
        return Response(graph_services.graph_of(request.query_params.get("applicationId") or None))


class DependencyViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = s.DependencySerializer
    filterset_class = DependencyFilterSet
    queryset = SharedDependency.objects.prefetch_related(Prefetch("applications", queryset=Application.objects.only("id")))
    required_scopes = {"read": Scope.FEDERATION_APPLICATIONS_READ, "write": Scope.FEDERATION_CONFIG_MANAGE,
                       "resolve": Scope.FEDERATION_APPLICATIONS_READ}
    search_fields = ["package"]
    sort_fields = {"package": "package", "version": "version"}
    default_sort = ("package", "version")

    def retrieve(self, request, pk=None):
        return Response(s.DependencySerializer(dep_services.dependency_get(pk)).data)

    @extend_schema(request=s.DependencyWriteSerializer, responses={201: s.DependencySerializer})
    @transaction.atomic  # the response is read before the commit: no read after it can fail
    def create(self, request):
        fields = _parse(s.DependencyWriteSerializer, request).validated_fields()
        return Response(s.DependencySerializer(dep_services.dependency_create(**fields)).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=s.DependencyWriteSerializer, responses={200: s.DependencySerializer})
    def update(self, request, pk=None):
        fields = _parse(s.DependencyWriteSerializer, request, partial=True).validated_fields()
        return Response(s.DependencySerializer(dep_services.dependency_update(dependency_id=pk, **fields)).data)

    def destroy(self, request, pk=None):
        dep_services.dependency_delete(dependency_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=s.ResolveSerializer, responses=schemas.ResolutionSerializer)
    @action(detail=False, methods=["post"])
    def resolve(self, request):
        data = _parse(s.ResolveSerializer, request).validated_data
        return Response(dep_services.dependencies_resolve(
            application_ids=data["applications"], strategy=data["strategy"], overrides=data["overrides"],
            runtime=data["runtime"], share_strategy=data["shareStrategy"], loaded=data["loaded"],
            loaded_versions=data["loadedVersions"], shared=data["shared"]))
