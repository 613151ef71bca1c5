"""Multi-region routes under /api/v1/ (seed 004's paths, snake_case bodies)."""
from django.urls import path

from . import views as v
from . import views_ops as o

urlpatterns = [
    path("regions", v.RegionListView.as_view(), name="regions-region-list"),
    path("regions/<slug:name>", v.RegionDetailView.as_view(), name="regions-region-detail"),
    path("regions/<slug:name>/config", v.RegionConfigView.as_view(), name="regions-region-config"),
    path("regions/<slug:name>/config/ack", v.RegionConfigAckView.as_view(), name="regions-region-config-ack"),
    path("models", v.ModelListView.as_view(), name="regions-model-list"),
    path("models/<slug:model_id>", v.ModelDetailView.as_view(), name="regions-model-detail"),
    path("models/<slug:model_id>/versions", v.VersionListView.as_view(), name="regions-version-list"),
    path("models/<slug:model_id>/versions/promote", v.PromoteView.as_view(), name="regions-version-promote"),
    path("models/<slug:model_id>/versions/<str:version>", v.VersionDetailView.as_view(),
         name="regions-version-detail"),
    path("models/<slug:model_id>/versions/<str:version>/artifact", v.ArtifactUploadView.as_view(),
         name="regions-version-artifact"),
    path("models/<slug:model_id>/predict", v.PredictView.as_view(), name="regions-predict"),
    path("models/<slug:model_id>/predict/async", v.AsyncPredictView.as_view(), name="regions-predict-async"),
    path("predictions/<str:prediction_id>", v.AsyncPredictionView.as_view(), name="regions-prediction"),
    path("predictions/<str:prediction_id>/result", v.AsyncPredictionResultView.as_view(),
         name="regions-prediction-result"),
    path("replication/models", o.ReplicationView.as_view(), name="regions-replication"),
    path("replication/sync-status", o.SyncStatusView.as_view(), name="regions-sync-status"),
    path("replication/<str:replication_id>/status", o.ReplicationStatusView.as_view(),
         name="regions-replication-status"),
    path("replication/<str:replication_id>/rollback", o.ReplicationRollbackView.as_view(),
         name="regions-replication-rollback"),
    path("health", o.HealthView.as_view(), name="regions-health"),
    path("metrics", o.MetricsView.as_view(), name="regions-metrics"),
    path("deployments", o.DeploymentListView.as_view(), name="regions-deployment-list"),
    path("deployments/<str:deployment_id>", o.DeploymentDetailView.as_view(), name="regions-deployment-detail"),
    path("deployments/<str:deployment_id>/rollback", o.DeploymentRollbackView.as_view(),
         name="regions-deployment-rollback"),
    path("failover", o.FailoverView.as_view(), name="regions-failover"),
    path("failover/<str:failover_id>", o.FailoverDetailView.as_view(), name="regions-failover-detail"),
    path("failover/<str:failover_id>/rollback", o.FailoverRollbackView.as_view(), name="regions-failover-rollback"),
    path("cost/summary", o.CostSummaryView.as_view(), name="regions-cost-summary"),
    path("cost/recommendations", o.CostRecommendationsView.as_view(), name="regions-cost-recommendations"),
    path("cost/imports", o.CostImportView.as_view(), name="regions-cost-import"),
]
