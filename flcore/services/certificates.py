"""Client certificates: issue one for a client's CSR, check one presented on a request, revoke them.

A certificate is bound to its client record (subject CN and a SAN URI urn:fedplane:client:<id>)
and pinned to the client's registered public key: the CSR must carry that key, and every request
checks the key again, with the certificate's record (not revoked, client not revoked). What a
certificate says (signed by the CA, its client, key, validity) is cached per process by its bytes;
its record is read on every request, so a revocation is seen at once by every process.
"""
from __future__ import annotations

import datetime
import hashlib
import threading
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed

from fedplane.api.errors import DomainError, ErrorCode
from fedplane.api.principals import ClientPrincipal
from fedplane.api.scopes import CLIENT_SCOPES
from fedplane.events.services import emit

from ..choices import ClientStatus
from ..errors import ClientNotFound
from ..models import ClientCertificate, FLClient
from .client_ca import URI_PREFIX, ClientCAUnavailable, client_ca, fingerprint_of, sign_client_certificate

__all__ = ["CertificateRefused", "certificate_issue", "certificate_authenticate", "certificates_revoke",
           "MAX_PEM_BYTES"]

MAX_PEM_BYTES = 16 * 1024


class CertificateRefused(AuthenticationFailed):
    """401 in the envelope with a code saying why (CERTIFICATE_EXPIRED, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = code


def _spki(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _registered_spki(client: FLClient) -> bytes | None:
    try:
        return _spki(serialization.load_pem_public_key(client.public_key.encode())) if client.public_key else None
    except (ValueError, UnsupportedAlgorithm):
        return None


# --- issue ------------------------------------------------------------------------------------------

def _client_for_update(client_id) -> FLClient:
    # clients.client_get's lookup; not imported, as clients.client_revoke imports this module
    try:
        return FLClient.objects.select_for_update().get(pk=client_id)
    except (FLClient.DoesNotExist, ValueError, TypeError, DjangoValidationError):
        raise ClientNotFound(f"Client {client_id} not found.", details={"clientId": str(client_id)}) from None


def _csr(csr_pem: str) -> x509.CertificateSigningRequest:
    def invalid(reason: str) -> DomainError:
        return DomainError(f"csr: {reason}", code="CSR_INVALID", status=422,
                           details={"csr": ["A PEM certificate signing request signed with the client's key."]})
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        csr.public_key()  # a key type cryptography cannot use raises here
        signed = csr.is_signature_valid
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise invalid(f"not a PEM certificate signing request ({exc})") from None
    if not signed:
        raise invalid("its signature does not verify with its own key")
    return csr


def certificate_issue(*, client_id, csr_pem: str) -> tuple[ClientCertificate, str]:
    """A certificate for `client_id`'s CSR, valid FLCORE_CLIENT_CERT_DAYS: (its record, its PEM).

    422 CSR_INVALID for a malformed CSR or one whose signature does not verify; 422 CSR_KEY_MISMATCH
    when its key is not the client's registered key; 409 CLIENT_KEY_NOT_REGISTERED for a client
    registered without a key; 403 for a revoked client; 503 without a CA. Nothing is stored then."""
    ca = client_ca()
    csr = _csr(csr_pem)
    with transaction.atomic():
        client = _client_for_update(client_id)
        if client.status == ClientStatus.REVOKED:
            raise DomainError(f"Client {client.id} was revoked; it gets no certificate.", code=ErrorCode.FORBIDDEN,
                              status=403, details={"clientId": str(client.id)})
        registered = _registered_spki(client)
        if registered is None:
            raise DomainError("This client was registered without a public key; register it with publicKey to "
                              "get a certificate.", code="CLIENT_KEY_NOT_REGISTERED", status=409,
                              details={"clientId": str(client.id)})
        if _spki(csr.public_key()) != registered:
            raise DomainError("csr: its key is not the client's registered public key; sign the CSR with the "
                              "client's own key.", code="CSR_KEY_MISMATCH", status=422,
                              details={"csr": ["The key must be the registered publicKey."]})
        lifetime = datetime.timedelta(days=settings.FLCORE_CLIENT_CERT_DAYS)
        certificate = sign_client_certificate(ca, public_key=csr.public_key(), client_id=client.id, lifetime=lifetime)
        record = ClientCertificate.objects.create(
            client=client, serial=format(certificate.serial_number, "x"), fingerprint=fingerprint_of(certificate),
            not_before=certificate.not_valid_before_utc, not_after=certificate.not_valid_after_utc)
        emit("client.certificate_issued", {"clientId": str(client.id), "serial": record.serial,
                                           "notAfter": record.not_after.isoformat()})
    return record, certificate.public_bytes(serialization.Encoding.PEM).decode()


# --- revoke -----------------------------------------------------------------------------------------

def certificates_revoke(client: FLClient) -> int:
    """Revoke every certificate of the client not revoked yet (in the caller's transaction)."""
    return ClientCertificate.objects.filter(client=client, revoked_at__isnull=True).update(revoked_at=timezone.now())


# --- authenticate -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Facts:
    """What a certificate signed by the CA says; true for as long as the CA is the same."""

    client_id: str
    fingerprint: str
    spki: bytes
    not_before: datetime.datetime
    not_after: datetime.datetime


_facts: dict[tuple[str, str], _Facts] = {}
_facts_lock = threading.Lock()
_MAX_FACTS = 10_000


def _read(pem: bytes) -> _Facts:
    """Parse and verify against the CA; CertificateRefused when it is not a certificate the CA issued."""
    try:
        ca = client_ca()
    except ClientCAUnavailable:  # production without a CA: no certificate can be one of ours
        raise CertificateRefused("CERTIFICATE_UNTRUSTED", "This platform has no client CA: it accepts no client "
                                                          "certificate.") from None
    key = (ca.fingerprint, hashlib.sha256(pem).hexdigest())
    found = _facts.get(key)
    if found is not None:
        return found
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise CertificateRefused("CERTIFICATE_INVALID", "The client certificate is not a PEM X.509 certificate.")
    try:
        certificate.verify_directly_issued_by(ca.certificate)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        raise CertificateRefused("CERTIFICATE_UNTRUSTED", "The client certificate was not issued by this platform's "
                                                          "client CA.") from None
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = [uri for uri in names.get_values_for_type(x509.UniformResourceIdentifier) if uri.startswith(URI_PREFIX)]
        public_key = _spki(certificate.public_key())
    except (x509.ExtensionNotFound, ValueError, UnsupportedAlgorithm):
        uris = []
    if len(uris) != 1:
        raise CertificateRefused("CERTIFICATE_UNTRUSTED", "The client certificate names no fedplane client.")
    facts = _Facts(client_id=uris[0][len(URI_PREFIX):], fingerprint=fingerprint_of(certificate), spki=public_key,
                   not_before=certificate.not_valid_before_utc, not_after=certificate.not_valid_after_utc)
    with _facts_lock:
        if len(_facts) >= _MAX_FACTS:
            _facts.clear()
        _facts[key] = facts
    return facts


def certificate_authenticate(pem: bytes) -> ClientPrincipal:
    """The client a presented certificate (PEM) authenticates; CertificateRefused (401) saying why not."""
    if len(pem) > MAX_PEM_BYTES:
        raise CertificateRefused("CERTIFICATE_INVALID", "The client certificate is too large.")
    facts = _read(pem)
    now = timezone.now()
    if now >= facts.not_after:
        raise CertificateRefused("CERTIFICATE_EXPIRED", f"The client certificate expired at "
                                                        f"{facts.not_after.isoformat()}; renew it.")
    if now < facts.not_before:
        raise CertificateRefused("CERTIFICATE_NOT_YET_VALID", "The client certificate is not valid yet.")
    record = ClientCertificate.objects.select_related("client").filter(fingerprint=facts.fingerprint).first()
    if record is None or str(record.client_id) != facts.client_id:
        raise CertificateRefused("CERTIFICATE_UNTRUSTED", "The client certificate is not one this platform issued.")
    if record.revoked_at is not None or record.client.status == ClientStatus.REVOKED:
        raise CertificateRefused("CERTIFICATE_REVOKED", "The client certificate was revoked.")
    if _registered_spki(record.client) != facts.spki:
        raise CertificateRefused("CERTIFICATE_KEY_MISMATCH", "The client certificate's key is not its client's "
                                                             "registered key.")
    return ClientPrincipal(client_id=facts.client_id, scopes=CLIENT_SCOPES, fingerprint=facts.fingerprint)
