"""FilterSet of the event log: `from`, `to`, `type`, `severity`, `system`."""
import django_filters

from .models import Event, Severity, System

__all__ = ["EventFilterSet"]


class EventFilterSet(django_filters.FilterSet):
    type = django_filters.CharFilter()
    severity = django_filters.ChoiceFilter(choices=Severity.choices)
    system = django_filters.ChoiceFilter(choices=System.choices)
    afterId = django_filters.NumberFilter(field_name="id", lookup_expr="gt")

    class Meta:
        model = Event
        fields = ["type", "severity", "system"]


EventFilterSet.base_filters["from"] = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
EventFilterSet.base_filters["to"] = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")
