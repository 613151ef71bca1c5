"""A client's certificate (issue and renew) and its assignments. Views parse, call one service, render."""
from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from fedplane.api.scopes import ClientScope, Scope

from ..services.certificates import certificate_issue
from ..services.client_access import owns_client_record
from ..services.client_ca import client_ca
from ..services.clients import client_get
from .serializers_certificates import (CertificateIssuedSerializer, CertificateRequestSerializer,
                                       ClientAssignmentRowSerializer)
from .validation_codes import validated


class ClientCertificateView(APIView):
    """POST a CSR, get a short-lived client certificate bound to this client and pinned to its key."""

    required_scopes = {"POST": Scope.FL_CLIENTS_MANAGE}
    client_scopes = {"POST": ClientScope.CERTIFICATE}  # a client renews its own with its certificate
    client_owns = staticmethod(owns_client_record)

    @extend_schema(request=CertificateRequestSerializer, responses={201: CertificateIssuedSerializer},
                   extensions={"x-error-statuses": [403, 404, 409, 422, 503]})
    def post(self, request, pk=None):
        data = validated(CertificateRequestSerializer(data=request.data))
        record, pem = certificate_issue(client_id=pk, csr_pem=data["csr"])
        ca_pem = client_ca().certificate.public_bytes(serialization.Encoding.PEM).decode()
        renew_after = record.not_before + (record.not_after - record.not_before) * 2 / 3
        return Response({"clientId": str(record.client_id), "serial": record.serial,
                         "fingerprint": record.fingerprint, "notBefore": record.not_before,
                         "notAfter": record.not_after, "renewAfter": renew_after, "certificate": pem,
                         "caCertificate": ca_pem}, status=status.HTTP_201_CREATED)


class ClientAssignmentsView(APIView):
    """The executions a client is assigned to, newest first."""

    required_scopes = {"GET": Scope.FL_METRICS_VIEW}
    client_scopes = {"GET": ClientScope.ASSIGNMENTS}
    client_owns = staticmethod(owns_client_record)
    pagination_class = None

    @extend_schema(responses={200: ClientAssignmentRowSerializer(many=True)})
    def get(self, request, pk=None):
        client = client_get(pk)
        rows = client.assignments.select_related("execution").order_by("-assigned_at")
        return Response(ClientAssignmentRowSerializer(rows, many=True).data)
