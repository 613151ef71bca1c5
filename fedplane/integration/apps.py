from django.apps import AppConfig


class IntegrationConfig(AppConfig):
    name = "fedplane.integration"
    label = "integration"
    verbose_name = "Integration"
