"""The client's certificate for mTLS: asked for with a CSR signed by its node key (the key it
registered, so the platform's pin holds), stored next to that key, renewed at two thirds of its
lifetime from the heartbeat loop (an API call: the SuperNode keeps running).

Files beside the node key KEY (OpenSSH, what the SuperNode reads):
  KEY.crt           the certificate (PEM)
  KEY.client-ca.pem the client CA's certificate (PEM)
  KEY.tls.key       the same private key as PKCS#8 PEM (0600): TLS libraries cannot read OpenSSH keys
"""
from __future__ import annotations

import datetime
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from ..files import write_whole
from .api import FedplaneApi

__all__ = ["CertificateKeeper", "CertifiedSession", "renew_at"]


def renew_at(certificate: x509.Certificate) -> datetime.datetime:
    """Two thirds into the certificate's own validity: read from it, so any lifetime works."""
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    return start + (end - start) * 2 / 3


class CertificateKeeper:
    def __init__(self, key_path: Path) -> None:
        self.key_path = key_path
        self.cert_path = key_path.with_name(key_path.name + ".crt")
        self.ca_path = key_path.with_name(key_path.name + ".client-ca.pem")
        self.tls_key_path = key_path.with_name(key_path.name + ".tls.key")

    def _key(self):
        return serialization.load_ssh_private_key(self.key_path.read_bytes(), password=None)

    def csr(self, client_id: str) -> str:
        return (x509.CertificateSigningRequestBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, client_id)]))
                .sign(self._key(), hashes.SHA384())
                .public_bytes(serialization.Encoding.PEM).decode())

    def certificate(self) -> x509.Certificate | None:
        try:
            return x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        except (OSError, ValueError):
            return None

    def due(self, now: datetime.datetime | None = None) -> bool:
        """No certificate yet, one for another key (the node key was replaced), or past two thirds."""
        certificate = self.certificate()
        if certificate is None:
            return True
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        if certificate.public_key().public_bytes(serialization.Encoding.DER, spki) != \
                self._key().public_key().public_bytes(serialization.Encoding.DER, spki):
            return True
        return (now or datetime.datetime.now(datetime.timezone.utc)) >= renew_at(certificate)

    def obtain(self, api, client_id: str) -> x509.Certificate:
        """Send a CSR, store what comes back; the previous certificate serves until then."""
        issued = api.certificate(client_id, self.csr(client_id))
        # Written each time: the node key may have been replaced since the last certificate.
        write_whole(self.tls_key_path, self._key().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), 0o600)
        write_whole(self.ca_path, issued["caCertificate"].encode())
        write_whole(self.cert_path, issued["certificate"].encode())
        return x509.load_pem_x509_certificate(issued["certificate"].encode())

    def renew_if_due(self, api, client_id: str) -> bool:
        """Renew when due (see `due`); True when a new certificate was stored."""
        if not self.due():
            return False
        self.obtain(api, client_id)
        return True

    def ssl_context(self, server_ca: Path | None = None) -> ssl.SSLContext:
        """A client TLS context presenting the certificate; the server is verified with `server_ca`
        (else the system's CAs)."""
        context = ssl.create_default_context(cafile=str(server_ca) if server_ca else None)
        context.load_cert_chain(str(self.cert_path), str(self.tls_key_path))
        return context


class CertifiedSession:
    """The certificate of one joined client and, with `mtls_api`, the API client that presents it
    (heartbeats and execution status then authenticate by certificate). `tick()` from the heartbeat
    loop renews when due and swaps in a client with the new certificate."""

    def __init__(self, keeper: CertificateKeeper, api, client_id: str, *, mtls_api: str | None = None,
                 server_ca: Path | None = None) -> None:
        self.keeper, self.api, self.client_id = keeper, api, client_id
        self.mtls_api, self.server_ca = mtls_api, server_ca
        self.status_api = api

    def start(self) -> None:
        """Obtain (or reuse) the certificate; ApiError when the platform issues none."""
        self.keeper.renew_if_due(self.api, self.client_id)
        self._connect()

    def tick(self) -> bool:
        """Renew when due (the API key asks: a lapsed certificate cannot renew itself); True if renewed."""
        if not self.keeper.renew_if_due(self.api, self.client_id):
            return False
        self._connect()
        return True

    def _connect(self) -> None:
        if not self.mtls_api:
            return
        previous = self.status_api
        self.status_api = FedplaneApi(self.mtls_api, None, verify=self.keeper.ssl_context(self.server_ca))
        if previous is not self.api:
            previous.close()
