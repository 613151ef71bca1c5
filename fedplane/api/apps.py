from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "fedplane.api"
    label = "api"
    verbose_name = "API access and audit"

    def ready(self) -> None:
        from . import schema  # noqa: F401  (registers the OpenAPI credential descriptions)
