from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "fedplane.events"
    label = "events"
    verbose_name = "Event log"
