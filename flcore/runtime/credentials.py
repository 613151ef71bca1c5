"""TLS certificates and SuperNode keys for an authenticated Flower deployment.

Flower 1.41's SuperNode authentication (``--enable-supernode-auth``) needs TLS on the
SuperLink and, per SuperNode, an ECDSA key pair: the public key is registered through
the Control API (``RegisterNode``), the private key is given to the SuperNode in
OpenSSH format (``--auth-supernode-private-key``). The SuperLink finds a node by the
exact PEM bytes of its public key, so every public key is re-serialised here the way
Flower does (SubjectPublicKeyInfo PEM) before it is registered.

``manage.py flowertls DIR [--host H ...]`` writes a development CA and server
certificate; ``fedplane-client join`` creates its SuperNode key pair itself.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .superlink import TlsFiles

__all__ = [
    "DEFAULT_HOSTS",
    "generate_dev_tls",
    "generate_node_key",
    "load_node_key",
    "node_key",
    "public_key_pem",
]

# NIST curves an OpenSSH ECDSA key (what the SuperNode loads) can use; Flower's
# RegisterNode also takes P-192/P-224, which no SuperNode could sign in with.
_NIST_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
DEFAULT_HOSTS = ("127.0.0.1", "localhost")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _write_private(path: Path, data: bytes) -> None:
    """Write a secret readable by its owner only (created 0600, never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def generate_dev_tls(folder: Path, hosts: Sequence[str] = DEFAULT_HOSTS, days: int = 365) -> TlsFiles:
    """A self-signed CA and a server certificate it signed, valid for ``hosts``.

    For development and tests: production deployments bring certificates from their
    own CA. SuperNodes verify the SuperLink with ``ca.pem`` (``--root-certificates``),
    so the address a SuperNode dials must be one of ``hosts``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)

    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("fedplane development CA"))
        .issuer_name(_name("fedplane development CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA384())
    )

    server_key = ec.generate_private_key(ec.SECP384R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([_san(h) for h in hosts]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA384())
    )

    files = TlsFiles(ca_cert=folder / "ca.pem", cert=folder / "server.pem", key=folder / "server.key")
    files.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    _write_private(
        files.key,
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    # The CA key is not written: nothing signs with it again (regenerate instead).
    return files


def _pem(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_key_pem(value: str | bytes) -> bytes:
    """A SuperNode public key as Flower registers it; ``ValueError`` if it is not one.

    Accepts PEM (SubjectPublicKeyInfo) or an OpenSSH line (``ecdsa-sha2-nistp384 ...``,
    what ``ssh-keygen -t ecdsa -b 384`` writes); the key must be ECDSA on a NIST curve.
    """
    raw = value.encode() if isinstance(value, str) else bytes(value)
    raw = raw.strip()
    try:
        if raw.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(raw)
        else:
            key = serialization.load_ssh_public_key(raw)
    except (ValueError, UnsupportedAlgorithm, TypeError) as err:
        raise ValueError(f"not a PEM or OpenSSH public key ({err})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, _NIST_CURVES):
        raise ValueError("not an ECDSA public key on a NIST curve (use P-384)")
    return _pem(key)


def generate_node_key(path: Path) -> bytes:
    """Write a new ECDSA P-384 key pair (``path``: OpenSSH private key, ``path.pub``).

    Returns the public key PEM to register. The SuperNode reads ``path``.
    """
    key = ec.generate_private_key(ec.SECP384R1())
    _write_private(
        path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        ),
    )
    openssh = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    path.with_name(path.name + ".pub").write_bytes(openssh + b"\n")
    return _pem(key.public_key())


def load_node_key(path: Path) -> bytes:
    """The public key PEM of an existing OpenSSH private key file (as the SuperNode loads it)."""
    try:
        key = serialization.load_ssh_private_key(path.read_bytes(), password=None)
    except (ValueError, UnsupportedAlgorithm) as err:
        raise ValueError(f"{path}: not an unencrypted OpenSSH private key ({err})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: not an ECDSA key (SuperNode authentication needs ECDSA P-384)")
    return public_key_pem(_pem(key.public_key()))


def node_key(path: Path) -> bytes:
    """Reuse the key pair at ``path`` (a stable node identity), or create it."""
    return load_node_key(path) if path.exists() else generate_node_key(path)
