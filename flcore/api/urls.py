"""Federated-learning routes under /api/v1/fl/."""
from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views, views_aggregation, views_certificates, views_datasets, views_metrics

router = SimpleRouter(trailing_slash=False)
router.register("executions", views.ExecutionViewSet, basename="fl-execution")
router.register("clients", views.ClientViewSet, basename="fl-client")
router.register("datasets", views_datasets.DatasetViewSet, basename="fl-dataset")

rounds = views.RoundViewSet
urlpatterns = [
    path("executions/<str:execution_pk>/rounds", rounds.as_view({"get": "list"}), name="fl-round-list"),
    path("executions/<str:execution_pk>/rounds/<int:pk>", rounds.as_view({"get": "retrieve"}), name="fl-round-detail"),
    path("executions/<str:execution_pk>/rounds/<int:pk>/metrics", rounds.as_view({"get": "metrics"}),
         name="fl-round-metrics"),
    path("executions/<str:execution_pk>/rounds/<int:pk>/checkpoint", rounds.as_view({"get": "checkpoint"}),
         name="fl-round-checkpoint"),
    path("strategies", views_aggregation.StrategyCatalogueView.as_view(), name="fl-strategies"),
    path("aggregation/<str:execution_pk>/status", views_aggregation.AggregationStatusView.as_view(),
         name="fl-aggregation-status"),
    path("aggregation/<str:execution_pk>/configure", views_aggregation.AggregationConfigureView.as_view(),
         name="fl-aggregation-configure"),
    path("aggregation/<str:execution_pk>/trigger", views_aggregation.AggregationTriggerView.as_view(),
         name="fl-aggregation-trigger"),
    path("aggregation/<str:execution_pk>/model", views_aggregation.AggregatedModelView.as_view(),
         name="fl-aggregation-model"),
    path("metrics/training", views_metrics.TrainingMetricsView.as_view(), name="fl-metrics-training"),
    path("metrics/system", views_metrics.SystemMetricsView.as_view(), name="fl-metrics-system"),
    path("metrics/data-distribution", views_metrics.DataDistributionView.as_view(), name="fl-metrics-data"),
    path("metrics/export", views_metrics.MetricsExportView.as_view(), name="fl-metrics-export"),
    path("runtime", views_metrics.FlowerRuntimeView.as_view(), name="fl-runtime"),
    path("clients/<str:pk>/certificate", views_certificates.ClientCertificateView.as_view(),
         name="fl-client-certificate"),
    path("clients/<str:pk>/assignments", views_certificates.ClientAssignmentsView.as_view(),
         name="fl-client-assignments"),
    path("", include(router.urls)),
]
