"""Endpoints of the API kit: tokens, the caller, API keys, audit log."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from . import services
from .filtersets import AuditEntryFilterSet
from .models import ApiKey, AuditEntry
from .principals import request_scopes
from .scopes import Scope
from .serializers import ApiKeyCreateSerializer, ApiKeySerializer, AuditEntrySerializer

__all__ = ["TokenObtainView", "TokenRefreshView_", "MeView", "ApiKeyViewSet", "AuditEntryViewSet"]


_TOKENS = inline_serializer("TokenPair", {
    "access": serializers.CharField(), "refresh": serializers.CharField(),
    "tokenType": serializers.ChoiceField(["Bearer"]), "expiresIn": serializers.IntegerField(help_text="seconds"),
    "scopes": serializers.ListField(child=serializers.CharField())})
_ISSUED_KEY = inline_serializer("IssuedApiKey", {
    **ApiKeySerializer().get_fields(), "key": serializers.CharField(help_text="the plaintext key, shown only now")})


# 401: wrong username or password, or an invalid refresh token.
@extend_schema_view(post=extend_schema(responses=_TOKENS, extensions={"x-error-statuses": [401]}))
class TokenObtainView(TokenObtainPairView):
    """Exchange username and password for a 15-minute access token and a 7-day refresh token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    idempotent = False  # its answer is a secret: never stored for an Idempotency-Key replay


@extend_schema_view(post=extend_schema(responses=inline_serializer("AccessToken", {
    "access": serializers.CharField(), "refresh": serializers.CharField(required=False)}),
    extensions={"x-error-statuses": [401]}))
class TokenRefreshView_(TokenRefreshView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    idempotent = False


class MeView(APIView):
    """The caller: user, scopes and how they authenticated."""

    @extend_schema(responses=inline_serializer("Me", {
        "username": serializers.CharField(), "scopes": serializers.ListField(child=serializers.CharField()),
        "authMethod": serializers.ChoiceField(["apiKey", "jwt", "session"])}))
    def get(self, request):
        auth = request.auth
        method = "apiKey" if isinstance(auth, ApiKey) else "jwt" if hasattr(auth, "payload") else "session"
        return Response({"username": request.user.get_username(), "scopes": sorted(request_scopes(request)),
                         "authMethod": method})


class ApiKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The caller's own API keys. The plaintext key is shown once, at creation or rotation."""

    serializer_class = ApiKeySerializer
    idempotent = False  # the plaintext key is never stored for an Idempotency-Key replay
    # The row's primary key embeds the key's hash (and a dot, which no route accepts):
    # a key is addressed by its public prefix, which the API shows as its id.
    lookup_field, lookup_url_kwarg = "prefix", "pk"
    sort_fields = {"name": "name", "created_at": "created"}
    default_sort = ("-created",)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller
            return ApiKey.objects.none()
        return ApiKey.objects.filter(user=self.request.user)

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: _ISSUED_KEY})
    def create(self, request):
        payload = ApiKeyCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        key, plaintext = services.api_key_issue(user=request.user, **payload.validated_data)
        return Response({**ApiKeySerializer(key).data, "key": plaintext}, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={201: _ISSUED_KEY})
    @action(detail=True, methods=["post"])
    def rotate(self, request, pk=None):
        key, plaintext = services.api_key_rotate(key=self.get_object())
        return Response({**ApiKeySerializer(key).data, "key": plaintext}, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: ApiKeySerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        return Response(ApiKeySerializer(services.api_key_revoke(key=self.get_object())).data)


class AuditEntryViewSet(viewsets.ReadOnlyModelViewSet):
    """Every write through the API, newest first."""

    queryset = AuditEntry.objects.all()
    serializer_class = AuditEntrySerializer
    filterset_class = AuditEntryFilterSet
    required_scopes = {"read": Scope.ADMIN_AUDIT_VIEW}
    search_fields = ["path", "username", "request_id"]
    sort_fields = {"timestamp": "timestamp", "status": "status_code"}
