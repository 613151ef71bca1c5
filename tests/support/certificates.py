"""Client certificates for tests: node keys, CSRs, and certificates signed by any CA with any validity."""
from __future__ import annotations

import datetime
from pathlib import Path
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from flcore.runtime.credentials import node_key

__all__ = ["NodeKey", "csr_for", "pem_of", "header_of", "forge", "other_ca"]


class NodeKey:
    """A client's node key as `fedplane-client join` makes it (OpenSSH file) and its public PEM."""

    def __init__(self, folder: Path, name: str = "node") -> None:
        self.path = folder / f"{name}.key"
        self.public_pem = node_key(self.path).decode()
        self.private = serialization.load_ssh_private_key(self.path.read_bytes(), password=None)


def csr_for(private_key, common_name: str = "client") -> str:
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .sign(private_key, hashes.SHA384()).public_bytes(serialization.Encoding.PEM).decode())


def pem_of(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def header_of(pem: str) -> str:
    """X-Client-Certificate as nginx sends it ($ssl_client_escaped_cert)."""
    return quote(pem, safe="")


def other_ca() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fedplane client CA")])  # the same name
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .sign(key, hashes.SHA384()))
    return certificate, key


def forge(issuer: x509.Certificate, issuer_key, *, public_key, client_id, start: datetime.datetime,
          end: datetime.datetime) -> x509.Certificate:
    """A client certificate as fedplane's CA writes one, by any issuer, valid [start, end]."""
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, str(client_id))]))
            .issuer_name(issuer.subject).public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(f"urn:fedplane:client:{client_id}")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(issuer_key, hashes.SHA384()))
