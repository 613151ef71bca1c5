"""Top-level routes: /api/v1/ (each app's api/urls.py), schema, docs, admin, ops."""
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from fedplane.api.docs import ApiDocsView
from fedplane.api.views_errors import api_bad_request, api_forbidden, api_not_found, server_error
from fedplane.events.sse import event_stream
from fedplane.events.views import EventViewSet
from fedplane.ops.views import liveness, metrics, readiness

api_v1 = [
    path("", include("fedplane.api.urls")),
    path("integration/events/stream", event_stream, name="event-stream"),
    path("integration/events", EventViewSet.as_view({"get": "list"}), name="event-list"),
    path("integration/events/<int:pk>", EventViewSet.as_view({"get": "retrieve"}), name="event-detail"),
    path("integration/", include("fedplane.integration.api.urls")),
    path("fl/", include("flcore.api.urls")),
    path("federation/", include("federation_registry.api.urls")),
    path("", include("regions.api.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="schema"), name="api-docs"),  # renders under the CSP
    path("admin/", admin.site.urls),
    path("dashboard/", include("fedplane.dashboard.urls")),
    path("livez", liveness, name="livez"),
    path("readyz", readiness, name="readyz"),
    path("", include("regions.api.oip_urls")),  # Open Inference Protocol v2: clients expect /v2 at the root
    path("metrics", metrics, name="prometheus-django-metrics"),  # sums server processes (ops/views.py)
]

handler400 = api_bad_request
handler403 = api_forbidden
handler404 = api_not_found
handler500 = server_error
