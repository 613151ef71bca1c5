"""Event history at /api/v1/integration/events."""
from rest_framework import serializers, viewsets

from .filtersets import EventFilterSet
from .models import Event

__all__ = ["EventViewSet"]


class EventSerializer(serializers.ModelSerializer):
    event = serializers.CharField(source="type")
    timestamp = serializers.DateTimeField(source="created_at")
    requestId = serializers.CharField(source="request_id")

    class Meta:
        model = Event
        fields = ["id", "event", "system", "severity", "timestamp", "data", "requestId"]


class EventViewSet(viewsets.ReadOnlyModelViewSet):
    """Every recorded event, oldest first; `afterId` pages forward from a known id."""

    queryset = Event.objects.all()
    serializer_class = EventSerializer
    filterset_class = EventFilterSet
    sort_fields = {"id": "id", "timestamp": "created_at"}
    default_sort = ("id",)
