from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "fedplane.api"
    label = "api"
    verbose_name = "API access and audit"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from . import schema  # noqa: F401  (registers the OpenAPI credential descriptions)
        from .sqlite import keep_wal_open

        connection_created.connect(keep_wal_open, dispatch_uid="fedplane-sqlite-keep-wal-open")
