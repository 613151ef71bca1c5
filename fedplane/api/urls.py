"""Routes of the API kit under /api/v1/."""
from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter(trailing_slash=False)
router.register("auth/api-keys", views.ApiKeyViewSet, basename="api-key")
router.register("audit", views.AuditEntryViewSet, basename="audit-entry")

urlpatterns = [
    path("auth/token", views.TokenObtainView.as_view(), name="token-obtain"),
    path("auth/token/refresh", views.TokenRefreshView_.as_view(), name="token-refresh"),
    path("auth/me", views.MeView.as_view(), name="auth-me"),
    path("", include(router.urls)),
]
