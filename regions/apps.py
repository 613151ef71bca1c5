"""Multi-region ML platform: model registry, replication, serving, failover, cost."""
from django.apps import AppConfig


class RegionsConfig(AppConfig):
    name = "regions"

    def ready(self) -> None:
        from prometheus_client import REGISTRY

        from .services.metrics import RegionsCollector
        from .stores import register_plugins
        from .streams import register_streams

        register_plugins()
        register_streams()
        try:
            REGISTRY.register(RegionsCollector())
        except ValueError:  # already registered (ready() runs twice in some test set-ups)
            pass
