"""FilterSets of the Module Federation models, shared by API and admin."""
import django_filters

from .choices import Framework, ModuleStatus
from .models import Application, Deployment, RemoteModule, SharedDependency

__all__ = ["ApplicationFilterSet", "ModuleFilterSet", "DependencyFilterSet", "DeploymentFilterSet"]


class ApplicationFilterSet(django_filters.FilterSet):
    # The seed's `status=all` means no filter.
    status = django_filters.ChoiceFilter(choices=[("active", "active"), ("inactive", "inactive"),
                                                  ("deploying", "deploying"), ("all", "all")],
                                         method="filter_status")
    framework = django_filters.ChoiceFilter(choices=Framework.choices)

    class Meta:
        model = Application
        fields = ["status", "framework"]

    def filter_status(self, queryset, name, value):
        return queryset if value == "all" else queryset.filter(status=value)


class ModuleFilterSet(django_filters.FilterSet):
    applicationId = django_filters.UUIDFilter(field_name="application_id")
    status = django_filters.ChoiceFilter(choices=ModuleStatus.choices)

    class Meta:
        model = RemoteModule
        fields = ["applicationId", "status"]


class DependencyFilterSet(django_filters.FilterSet):
    package = django_filters.CharFilter()
    applicationId = django_filters.UUIDFilter(field_name="applications__id")

    class Meta:
        model = SharedDependency
        fields = ["package", "applicationId"]


class DeploymentFilterSet(django_filters.FilterSet):
    applicationId = django_filters.UUIDFilter(field_name="application_id")
    environment = django_filters.CharFilter()
    status = django_filters.CharFilter()

    class Meta:
        model = Deployment
        fields = ["applicationId", "environment", "status"]
