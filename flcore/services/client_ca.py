"""The client certificate authority: the key and certificate that sign FL clients' certificates.

Production supplies both files (FLCORE_CLIENT_CA_CERT, FLCORE_CLIENT_CA_KEY); the embedded default
keeps its own under VAR_DIR/client-ca, made on first use (the key 0600), so a laptop needs no
setup. Production without them has no CA: no certificate is issued or accepted.
"""
from __future__ import annotations

import datetime
import fcntl
import hashlib
import os
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings

from fedplane.api.errors import DomainError

__all__ = ["ClientCA", "ClientCAUnavailable", "client_ca", "ca_paths", "client_uri", "sign_client_certificate",
           "fingerprint_of", "URI_PREFIX", "CA_YEARS"]

CA_YEARS = 10
URI_PREFIX = "urn:fedplane:client:"


class ClientCAUnavailable(DomainError):
    code, status = "CLIENT_CA_UNAVAILABLE", 503
    default_message = ("No client certificate authority is configured: set FLCORE_CLIENT_CA_CERT and "
                       "FLCORE_CLIENT_CA_KEY.")


@dataclass(frozen=True)
class ClientCA:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_path: Path

    @cached_property  # read on every certificate check (a cache key); frozen dataclasses allow it
    def fingerprint(self) -> str:
        return self.certificate.fingerprint(hashes.SHA256()).hex()


_loaded: dict[tuple, ClientCA] = {}
_lock = threading.Lock()


def ca_paths() -> tuple[Path, Path] | None:
    """(certificate, key) files of the CA; None when production configured none."""
    if settings.FLCORE_CLIENT_CA_CERT:
        return Path(settings.FLCORE_CLIENT_CA_CERT), Path(settings.FLCORE_CLIENT_CA_KEY)
    if settings.PRODUCTION:
        return None
    folder = Path(settings.VAR_DIR) / "client-ca"
    return folder / "ca.pem", folder / "ca.key"


def client_ca() -> ClientCA:
    """The CA, loaded once per process (again if its files change); made first in the embedded default."""
    paths = ca_paths()
    if paths is None:
        raise ClientCAUnavailable()
    cert_path, key_path = paths
    if not settings.FLCORE_CLIENT_CA_CERT and not cert_path.exists():
        _generate(cert_path, key_path)
    try:
        marker = (str(cert_path), cert_path.stat().st_mtime_ns, str(key_path), key_path.stat().st_mtime_ns)
    except OSError as exc:
        raise ClientCAUnavailable(f"The client CA files cannot be read: {exc.strerror} ({exc.filename}).") from None
    with _lock:
        ca = _loaded.get(marker)
        if ca is None:
            ca = _load(cert_path, key_path)
            _loaded.clear()
            _loaded[marker] = ca
    return ca


def _load(cert_path: Path, key_path: Path) -> ClientCA:
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ClientCAUnavailable(f"The client CA files cannot be loaded: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ClientCAUnavailable("The client CA key must be an ECDSA key.")
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, spki) != \
            certificate.public_key().public_bytes(serialization.Encoding.DER, spki):
        raise ClientCAUnavailable("The client CA key does not belong to the client CA certificate.")
    return ClientCA(certificate=certificate, key=key, cert_path=cert_path)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fedplane"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _generate(cert_path: Path, key_path: Path) -> None:
    """Write a new CA, once: processes starting together take a lock, and the certificate is
    written last (by rename), so its presence means both files are whole."""
    folder = cert_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if cert_path.exists():
            return
        key = ec.generate_private_key(ec.SECP384R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        certificate = (
            x509.CertificateBuilder().subject_name(_name("fedplane client CA")).issuer_name(_name("fedplane client CA"))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=365 * CA_YEARS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA384()))
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        partial = cert_path.with_name(cert_path.name + ".part")
        partial.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        partial.replace(cert_path)


def client_uri(client_id) -> str:
    return f"{URI_PREFIX}{client_id}"


def sign_client_certificate(ca: ClientCA, *, public_key, client_id, lifetime: datetime.timedelta) -> x509.Certificate:
    """A client-authentication certificate for `public_key`, naming the client in its subject (CN)
    and in a SAN URI. Backdated a little for clocks running behind, never by more than 5% of its life."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    start = now - min(datetime.timedelta(minutes=1), lifetime * 0.05)
    ca_ski = _key_identifier(ca.certificate)
    return (
        x509.CertificateBuilder().subject_name(_name(str(client_id))).issuer_name(ca.certificate.subject)
        .public_key(public_key).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(now + lifetime)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(client_uri(client_id))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca.key, hashes.SHA384()))


def _key_identifier(certificate: x509.Certificate) -> x509.SubjectKeyIdentifier:
    """The CA's own SKI (a supplied CA may compute it another way), else the usual one of its key."""
    try:
        return certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(certificate.public_key())


def fingerprint_of(certificate: x509.Certificate) -> str:
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()
