"""Multi-region ML platform: model registry, replication, serving, failover, cost."""
from django.apps import AppConfig


class RegionsConfig(AppConfig):
    name = "regions"
    verbose_name = "Multi-region ML platform"

    def ready(self) -> None:
        from celery.signals import worker_ready
        from prometheus_client import REGISTRY

        from .prober import start_prober

        from .services.metrics import RegionsCollector
        from .services.replication_metrics import ReplicationCollector
        from .stores import register_plugins
        from .streams import register_streams

        worker_ready.connect(start_prober, weak=False, dispatch_uid="regions-prober")
        register_plugins()
        register_streams()
        for collector in (RegionsCollector(), ReplicationCollector()):
            try:
                REGISTRY.register(collector)
            except ValueError:  # already registered (ready() runs twice in some test set-ups)
                pass
