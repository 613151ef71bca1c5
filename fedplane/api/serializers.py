"""Serializers of the API kit: tokens, API keys, audit entries."""
from __future__ import annotations

from rest_framework import serializers
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer

from .models import ApiKey, AuditEntry
from .principals import user_scopes
from .scopes import Scope

__all__ = ["ScopedTokenObtainSerializer", "ApiKeySerializer", "ApiKeyCreateSerializer", "AuditEntrySerializer"]


class ScopedTokenObtainSerializer(TokenObtainPairSerializer):
    """Username/password to an access+refresh pair whose `scopes` claim is the user's
    scopes, narrowed to `scopes` when the caller asks for fewer."""

    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices), required=False)

    def validate(self, attrs):
        requested = attrs.pop("scopes", None)
        data = super().validate(attrs)
        granted = user_scopes(self.user)
        if requested is not None:
            missing = set(requested) - granted
            if missing:
                raise serializers.ValidationError({"scopes": f"not granted to this user: {sorted(missing)}"})
            granted = frozenset(requested)
        refresh = self.get_token(self.user)
        refresh["scopes"] = sorted(granted)
        return {"access": str(refresh.access_token), "refresh": str(refresh),
                "tokenType": "Bearer", "expiresIn": int(refresh.access_token.lifetime.total_seconds()),
                "scopes": sorted(granted)}


class ApiKeySerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="prefix", read_only=True)  # never the row's hash-bearing pk
    createdAt = serializers.DateTimeField(source="created", read_only=True)
    expiresAt = serializers.DateTimeField(source="expiry_date", read_only=True)
    rotatedFrom = serializers.CharField(source="rotated_from.prefix", read_only=True, allow_null=True)

    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "scopes", "revoked", "createdAt", "expiresAt", "rotatedFrom"]
        read_only_fields = fields


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=50)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices), allow_empty=False)


class AuditEntrySerializer(serializers.ModelSerializer):
    apiKeyPrefix = serializers.CharField(source="api_key_prefix")
    viewName = serializers.CharField(source="view_name")
    statusCode = serializers.IntegerField(source="status_code")
    requestId = serializers.CharField(source="request_id")
    remoteAddr = serializers.CharField(source="remote_addr", allow_null=True)
    durationMs = serializers.FloatField(source="duration_ms")

    class Meta:
        model = AuditEntry
        fields = ["id", "timestamp", "username", "apiKeyPrefix", "method", "path", "viewName",
                  "statusCode", "outcome", "requestId", "remoteAddr", "durationMs", "details"]
