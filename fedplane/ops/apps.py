from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "fedplane.ops"
    label = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from celery.signals import worker_ready

        from .metrics import serve_worker_metrics

        worker_ready.connect(serve_worker_metrics, weak=False, dispatch_uid="ops-worker-metrics")
