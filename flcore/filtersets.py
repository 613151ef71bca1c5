"""FilterSets of the federated-learning models, shared by API and admin."""
import django_filters

from .choices import ClientStatus, Compute, ExecutionStatus, ModelType
from .models import FLClient, TrainingExecution

__all__ = ["ExecutionFilterSet", "ClientFilterSet"]


class ExecutionFilterSet(django_filters.FilterSet):
    # The seed filters waiting executions as "pending"; fedplane calls that state queued.
    status = django_filters.ChoiceFilter(choices=[*ExecutionStatus.choices, ("pending", "Pending (queued)")],
                                         method="filter_status")
    modelType = django_filters.ChoiceFilter(field_name="model_type", choices=ModelType.choices)
    algorithm = django_filters.CharFilter()
    dateFrom = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    dateTo = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = TrainingExecution
        fields = ["status", "modelType", "algorithm", "dateFrom", "dateTo"]


    def filter_status(self, queryset, name, value):
        return queryset.filter(status=ExecutionStatus.QUEUED if value == "pending" else value)


class ClientFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=ClientStatus.choices)
    capability = django_filters.ChoiceFilter(field_name="compute", choices=Compute.choices)
    region = django_filters.CharFilter()

    class Meta:
        model = FLClient
        fields = ["status", "capability", "region"]
