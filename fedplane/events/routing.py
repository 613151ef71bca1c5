"""WebSocket routes."""
from django.urls import path

from .consumers import EventsConsumer, FederationEventsConsumer, FlEventsConsumer

websocket_urlpatterns = [
    path("federation/events", FederationEventsConsumer.as_asgi()),
    path("fl/events", FlEventsConsumer.as_asgi()),
    path("api/v1/ws", EventsConsumer.as_asgi()),
]
