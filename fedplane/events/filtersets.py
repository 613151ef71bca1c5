"""FilterSet of the event log: `from`, `to`, `type`, `severity`, `system`, `afterId`."""
import django_filters

from .models import Event, Severity, System
from .sequencing import position_after

__all__ = ["EventFilterSet"]


class EventFilterSet(django_filters.FilterSet):
    type = django_filters.CharFilter()
    severity = django_filters.ChoiceFilter(choices=Severity.choices)
    system = django_filters.ChoiceFilter(choices=System.choices)
    afterId = django_filters.NumberFilter(method="after_event", min_value=0, max_value=2**63 - 1)

    class Meta:
        model = Event
        fields = ["type", "severity", "system"]

    def after_event(self, queryset, name, value):
        """Events committed after that one (commit order: see sequencing.py)."""
        return queryset.filter(position__gt=position_after(int(value)))


EventFilterSet.base_filters["from"] = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
EventFilterSet.base_filters["to"] = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")
