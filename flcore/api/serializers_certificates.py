"""Client certificate and assignment payloads (mTLS for FL clients)."""
from __future__ import annotations

from rest_framework import serializers

from ..choices import ClientRole, ExecutionStatus
from ..services.certificates import MAX_PEM_BYTES

__all__ = ["CertificateRequestSerializer", "CertificateIssuedSerializer", "ClientAssignmentRowSerializer"]


class CertificateRequestSerializer(serializers.Serializer):
    csr = serializers.CharField(max_length=MAX_PEM_BYTES, trim_whitespace=True,
                                help_text="PEM certificate signing request, signed with the client's registered key")


class CertificateIssuedSerializer(serializers.Serializer):
    clientId = serializers.UUIDField()
    serial = serializers.CharField(help_text="hex")
    fingerprint = serializers.CharField(help_text="SHA-256 of the DER certificate, hex")
    notBefore = serializers.DateTimeField()
    notAfter = serializers.DateTimeField()
    renewAfter = serializers.DateTimeField(help_text="two thirds of its lifetime: when a client renews it")
    certificate = serializers.CharField(help_text="PEM")
    caCertificate = serializers.CharField(help_text="the client CA's certificate, PEM")


class ClientAssignmentRowSerializer(serializers.Serializer):
    executionId = serializers.UUIDField(source="execution_id")
    executionStatus = serializers.ChoiceField(source="execution.status", choices=ExecutionStatus.choices)
    role = serializers.ChoiceField(choices=ClientRole.choices)
    config = serializers.DictField(help_text="free-form")
    assignedAt = serializers.DateTimeField(source="assigned_at")
