"""Module Federation routes under /api/v1/federation/."""
from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views, views_runtime

__all__ = ["urlpatterns"]

router = SimpleRouter(trailing_slash=False)
router.register("applications", views.ApplicationViewSet, basename="mf-application")
router.register("modules", views.ModuleViewSet, basename="mf-module")
router.register("dependencies", views.DependencyViewSet, basename="mf-dependency")
router.register("deployments", views_runtime.DeploymentViewSet, basename="mf-deployment")

urlpatterns = [
    path("runtime/<str:application_id>/shell/<str:environment>", views_runtime.shell_runtime,
         name="mf-shell-runtime"),
    path("runtime/<str:application_id>/reload", views_runtime.ReloadView.as_view(), name="mf-runtime-reload"),
    path("runtime/<str:application_id>", views_runtime.RuntimeConfigView.as_view(), name="mf-runtime"),
    path("telemetry", views_runtime.TelemetryView.as_view(), name="mf-telemetry"),
    path("", include(router.urls)),
]
