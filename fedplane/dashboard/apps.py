from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "fedplane.dashboard"
    label = "dashboard"
    verbose_name = "Operator dashboard"
