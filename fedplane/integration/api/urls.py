"""/api/v1/integration/: unified deploy, combined health, dependencies, performance."""
from django.urls import path

from . import views_deploy, views_monitoring

urlpatterns: list = []

urlpatterns += [
    path("deploy", views_deploy.DeployView.as_view(), name="integration-deploy"),
    path("deployments/<str:deployment_id>", views_deploy.DeploymentStatusView.as_view(),
         name="integration-deployment-detail"),
    path("deployments/<str:deployment_id>/rollback", views_deploy.DeploymentRollbackView.as_view(),
         name="integration-deployment-rollback"),
]

urlpatterns += [
    path("health", views_monitoring.HealthView.as_view(), name="integration-health"),
    path("dependencies", views_monitoring.DependenciesView.as_view(), name="integration-dependencies"),
    path("performance", views_monitoring.PerformanceView.as_view(), name="integration-performance"),
]
