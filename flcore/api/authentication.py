"""X-Client-Certificate: an FL client authenticated by the certificate the platform's CA issued it."""
from __future__ import annotations

from rest_framework import authentication

__all__ = ["ClientCertificateAuthentication"]


class ClientCertificateAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        return None
