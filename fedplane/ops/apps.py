from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "fedplane.ops"
    label = "ops"
    verbose_name = "Operations"
