from django.apps import AppConfig


class FederationRegistryConfig(AppConfig):
    name = "federation_registry"
    verbose_name = "Module Federation registry"

    def ready(self) -> None:
        from prometheus_client import REGISTRY

        from .services.prometheus import DeploymentsCollector

        try:
            REGISTRY.register(DeploymentsCollector())
        except ValueError:  # already registered (ready() runs twice in some test set-ups)
            pass
