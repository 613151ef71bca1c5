"""Open Inference Protocol v2 routes, included at the root by fedplane/urls.py."""
from django.urls import path, re_path

from . import oip

urlpatterns = [
    path("v2", oip.ServerMetadataView.as_view(), name="oip-server"),
    path("v2/health/live", oip.LiveView.as_view(), name="oip-live"),
    path("v2/health/ready", oip.ReadyView.as_view(), name="oip-ready"),
    path("v2/models/<slug:name>", oip.ModelMetadataView.as_view(), name="oip-model"),
    path("v2/models/<slug:name>/ready", oip.ModelReadyView.as_view(), name="oip-model-ready"),
    path("v2/models/<slug:name>/infer", oip.InferView.as_view(), name="oip-infer"),
    path("v2/models/<slug:name>/versions/<str:version>", oip.ModelMetadataView.as_view(), name="oip-version"),
    path("v2/models/<slug:name>/versions/<str:version>/ready", oip.ModelReadyView.as_view(),
         name="oip-version-ready"),
    path("v2/models/<slug:name>/versions/<str:version>/infer", oip.InferView.as_view(), name="oip-version-infer"),
    # Last: OIP's 404 body for everything else ([\s\S]: a %0A in the path too, which `.` does not match).
    re_path(r"^v2/(?P<rest>[\s\S]*)$", oip.not_found, name="oip-not-found"),
]
