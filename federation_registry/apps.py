from django.apps import AppConfig


class FederationRegistryConfig(AppConfig):
    name = "federation_registry"
