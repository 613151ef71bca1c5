from django.apps import AppConfig


class FlcoreConfig(AppConfig):
    name = "flcore"
    verbose_name = "Federated learning"

    def ready(self) -> None:
        from celery.signals import worker_ready
        from prometheus_client import REGISTRY

        from .services.execution_gauges import ExecutionsCollector
        from .streams import register_streams
        from .sweeper import start_sweeper

        worker_ready.connect(start_sweeper, weak=False, dispatch_uid="flcore-sweeper")
        register_streams()
        try:
            REGISTRY.register(ExecutionsCollector())
        except ValueError:  # already registered (ready() runs twice in some test set-ups)
            pass
