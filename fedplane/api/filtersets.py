"""FilterSets of the API kit's models."""
import django_filters

from .models import AuditEntry

__all__ = ["AuditEntryFilterSet"]


class AuditEntryFilterSet(django_filters.FilterSet):
    username = django_filters.CharFilter()
    outcome = django_filters.ChoiceFilter(choices=AuditEntry.Outcome.choices)
    method = django_filters.CharFilter(lookup_expr="iexact")
    requestId = django_filters.CharFilter(field_name="request_id")
    # `from` is a Python keyword, so these two are declared by name below.

    class Meta:
        model = AuditEntry
        fields = ["username", "outcome", "method", "requestId"]


AuditEntryFilterSet.base_filters["from"] = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="gte")
AuditEntryFilterSet.base_filters["to"] = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="lte")
