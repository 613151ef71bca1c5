"""X-Client-Certificate: an FL client authenticated by the certificate the platform's CA issued it.

Two ways in (README, "Client certificates (mTLS)"):
- the client-only listener: uvicorn terminates TLS and requires a client certificate; its protocol
  (fedplane/api/tls.py) puts the verified peer certificate in the ASGI scope's "tls" extension;
- a TLS-terminating proxy forwards the certificate it verified in `X-Client-Certificate`
  (URL-encoded PEM, nginx's $ssl_client_escaped_cert). Only a peer in FEDPLANE_TRUSTED_PROXIES may
  send that header: from anyone else it is refused (401 PROXY_NOT_TRUSTED), never ignored.
"""
from __future__ import annotations

import ipaddress
from urllib.parse import unquote

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication

from fedplane.api.authentication import AUTH_HEADER  # the same challenge as every 401 (the lean path's too)

from ..services.certificates import MAX_PEM_BYTES, CertificateRefused, certificate_authenticate

__all__ = ["ClientCertificateAuthentication", "ClientCertificateScheme", "presented_certificate", "HEADER"]

HEADER = "HTTP_X_CLIENT_CERTIFICATE"


def _tls_peer_certificate(http_request) -> bytes | None:
    """The leaf certificate the TLS handshake verified (the ASGI "tls" extension), if any."""
    scope = getattr(http_request, "scope", None) or {}
    chain = scope.get("extensions", {}).get("tls", {}).get("client_cert_chain") or ()
    return chain[0].encode() if chain else None


def _trusted_proxy(address: str | None) -> bool:
    try:
        peer = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(peer in ipaddress.ip_network(cidr, strict=False) for cidr in settings.FEDPLANE_TRUSTED_PROXIES)


def presented_certificate(http_request) -> bytes | None:
    """The certificate PEM this request presents, or None; CertificateRefused for a header from an
    untrusted peer. The TLS connection's own certificate wins over any header."""
    pem = _tls_peer_certificate(http_request)
    if pem is not None:
        return pem
    raw = http_request.META.get(HEADER, "")
    if not raw.strip():
        return None  # nginx sends an empty value when the client presented none
    if not _trusted_proxy(http_request.META.get("REMOTE_ADDR")):
        raise CertificateRefused("PROXY_NOT_TRUSTED", "X-Client-Certificate is accepted only from the "
                                                      "TLS-terminating proxies in FEDPLANE_TRUSTED_PROXIES.")
    if len(raw) > 3 * MAX_PEM_BYTES:
        raise CertificateRefused("CERTIFICATE_INVALID", "The client certificate is too large.")
    return unquote(raw).encode("utf-8", "replace")


class ClientCertificateAuthentication(authentication.BaseAuthentication):
    """(ClientPrincipal, ClientPrincipal) for a request presenting a client certificate; None without one."""

    def authenticate(self, request):
        pem = presented_certificate(request._request)
        if pem is None:
            return None
        principal = certificate_authenticate(pem)
        return principal, principal

    def authenticate_header(self, request) -> str:
        return AUTH_HEADER


class ClientCertificateScheme(OpenApiAuthenticationExtension):
    target_class = "flcore.api.authentication.ClientCertificateAuthentication"
    name = "clientCertificateAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "X-Client-Certificate",
                "description": "An FL client's certificate from the platform's client CA, as URL-encoded PEM "
                               "(nginx's $ssl_client_escaped_cert), set by a TLS-terminating proxy in "
                               "FEDPLANE_TRUSTED_PROXIES (401 PROXY_NOT_TRUSTED from any other peer); or presented "
                               "in the TLS handshake on the client-only listener. It opens only its client's own "
                               "calls: its record, status (heartbeat), metrics, assignments, the executions it is "
                               "assigned to, and its certificate's renewal."}
