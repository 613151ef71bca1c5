"""mTLS for FL clients with real TLS (issue 14, item 1): uvicorn terminating TLS on a client-only
listener that requires a certificate of the client CA, and a TLS-terminating proxy forwarding the
certificate it verified in X-Client-Certificate; the CLI's renewal at two thirds of a short life."""
from __future__ import annotations

import datetime
import socket
import ssl
import sys
import threading

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from flcore.client.api import FedplaneApi
from flcore.client.certificates import CertificateKeeper, CertifiedSession
from flcore.runtime.credentials import generate_dev_tls
from flcore.services.certificates import certificate_issue
from flcore.services.client_ca import client_ca
from flcore.services.clients import client_register, client_revoke
from tests.support.certificates import NodeKey, csr_for, forge, header_of, other_ca, pem_of
from tests.support.processes import ManagedProcess, free_port, start_server, wait_until

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]
LIFETIME_SECONDS = 6  # the plain server's certificates: renewed after 4 s
PROXY_SOURCE = "127.0.0.2"  # the proxy's address, the only one the plain server trusts for the header


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return generate_dev_tls(tmp_path_factory.mktemp("server-tls"))


@pytest.fixture(scope="module")
def mtls_url(live_env, live_logs, tls, django_db_blocker):
    """uvicorn on a client-only listener: TLS, a client certificate of the client CA required."""
    with django_db_blocker.unblock():
        ca_path = client_ca().cert_path
    port = free_port()
    proc = ManagedProcess([sys.executable, "-m", "uvicorn", "fedplane.asgi:application", "--host", "127.0.0.1",
                           "--port", str(port), "--no-access-log", "--http", "fedplane.api.tls:TLSProtocol",
                           "--ssl-certfile", str(tls.cert), "--ssl-keyfile", str(tls.key),
                           "--ssl-cert-reqs", "2", "--ssl-ca-certs", str(ca_path)],
                          live_env, live_logs / f"mtls-{port}.log")

    def listening() -> bool:
        if not proc.alive():
            raise RuntimeError(f"mTLS server exited:\n{proc.log_tail()}")
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    wait_until(listening, timeout=60, interval=0.1, message="mTLS listener")
    yield f"https://127.0.0.1:{port}"
    proc.stop()


@pytest.fixture(scope="module")
def plain_url(live_env, live_logs):
    """A plain server issuing 6-second certificates, trusting the header from PROXY_SOURCE only."""
    env = {**live_env, "FLCORE_CLIENT_CERT_DAYS": f"{LIFETIME_SECONDS / 86400:.10f}",  # no exponent: django-environ drops the e
           "FEDPLANE_TRUSTED_PROXIES": f"{PROXY_SOURCE}/32"}
    proc, base = start_server(env, live_logs, "mtls-plain")
    yield base
    proc.stop()


@pytest.fixture
def member(make_user, make_key, tmp_path):
    """A registered client with a 7-day certificate: (client id, cert file, PKCS#8 key file, node, API key)."""
    from fedplane.api.scopes import Scope
    user = make_user([Scope.FL_CLIENTS_MANAGE, Scope.FL_METRICS_VIEW])
    node = NodeKey(tmp_path, "member")
    client = client_register(owner=user, name="edge", public_key=node.public_pem)
    _, pem = certificate_issue(client_id=client.id, csr_pem=csr_for(node.private))
    cert, key = tmp_path / "member.crt", tmp_path / "member.tls.key"
    cert.write_text(pem)
    key.write_bytes(node.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    api_key, _ = make_key([Scope.FL_CLIENTS_MANAGE, Scope.FL_METRICS_VIEW], user=user)
    return str(client.id), cert, key, node, api_key


def _context(tls, cert=None, key=None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(tls.ca_cert))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


def test_the_client_only_listener_authenticates_the_client_by_its_certificate(mtls_url, tls, member):
    client_id, cert, key, _, _ = member
    with httpx.Client(base_url=f"{mtls_url}/api/v1/fl", verify=_context(tls, cert, key), timeout=10) as http:
        beat = http.put(f"/clients/{client_id}/status", json={"status": "active", "metadata": {"cpu": 3.0}})
        assert beat.status_code == 200, beat.text
        assert beat.json()["data"]["status"] == "active"
        assert http.get("/executions").json()["error"]["code"] == "FORBIDDEN"
        # An API key on this listener changes nothing: the certificate is who is calling.
        assert http.get("/clients", headers={"X-API-Key": member[4]}).status_code == 403

        client_revoke(client_id=client_id)
        refused = http.get(f"/clients/{client_id}")
        assert (refused.status_code, refused.json()["error"]["code"]) == (401, "CERTIFICATE_REVOKED")


def test_the_listener_refuses_no_certificate_or_another_cas_at_the_handshake(mtls_url, tls, member, tmp_path):
    client_id, _, key, node, _ = member
    foreign_ca, foreign_key = other_ca()
    now = datetime.datetime.now(datetime.timezone.utc)
    foreign = tmp_path / "foreign.crt"
    foreign.write_text(pem_of(forge(foreign_ca, foreign_key, public_key=node.private.public_key(), client_id=client_id,
                                    start=now - datetime.timedelta(minutes=1), end=now + datetime.timedelta(days=1))))
    for context in (_context(tls), _context(tls, foreign, key)):
        with httpx.Client(verify=context, timeout=10) as http, pytest.raises(httpx.TransportError):
            http.get(f"{mtls_url}/api/v1/fl/clients/{client_id}")


class _TLSProxy:
    """A TLS-terminating proxy as nginx with `ssl_verify_client on`: it verifies the client's
    certificate against the client CA and forwards the request with X-Client-Certificate (URL-encoded
    PEM), from PROXY_SOURCE. One request per connection."""

    def __init__(self, backend: str, tls, client_ca_path) -> None:
        self.backend = backend.removeprefix("http://").split(":")
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(client_ca_path))
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.context.load_cert_chain(str(tls.cert), str(tls.key))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"https://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(raw,), daemon=True).start()

    def _relay(self, raw: socket.socket) -> None:
        try:
            with self.context.wrap_socket(raw, server_side=True) as conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
                length = next((int(line.split(b":", 1)[1]) for line in lines
                               if line.lower().startswith(b"content-length:")), 0)
                while len(body) < length:
                    body += conn.recv(65536)
                pem = ssl.DER_cert_to_PEM_cert(conn.getpeercert(binary_form=True))
                lines += [b"X-Client-Certificate: " + header_of(pem).encode(), b"Connection: close"]
                with socket.create_connection((self.backend[0], int(self.backend[1])),
                                              source_address=(PROXY_SOURCE, 0)) as upstream:
                    upstream.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
                    while chunk := upstream.recv(65536):
                        conn.sendall(chunk)
        except (OSError, ssl.SSLError):
            pass  # a client refused at the handshake

    def close(self) -> None:
        self.listener.close()


def test_a_proxy_forwards_the_verified_certificate_and_only_it_is_trusted(plain_url, tls, member):
    client_id, cert, key, _, _ = member
    proxy = _TLSProxy(plain_url, tls, client_ca().cert_path)
    try:
        with httpx.Client(verify=_context(tls, cert, key), timeout=10) as http:
            beat = http.put(f"{proxy.url}/api/v1/fl/clients/{client_id}/status", json={"status": "active"})
            assert beat.status_code == 200, beat.text
            assert http.get(f"{proxy.url}/api/v1/fl/executions").status_code == 403
    finally:
        proxy.close()
    direct = httpx.get(f"{plain_url}/api/v1/fl/clients/{client_id}", timeout=10,
                       headers={"X-Client-Certificate": header_of(cert.read_text())})
    assert (direct.status_code, direct.json()["error"]["code"]) == (401, "PROXY_NOT_TRUSTED")


def test_the_cli_renews_at_two_thirds_of_the_lifetime_and_keeps_reporting(plain_url, mtls_url, tls, member):
    client_id, _, _, node, api_key = member
    api = FedplaneApi(plain_url, api_key)
    session = CertifiedSession(CertificateKeeper(node.path), api, client_id, mtls_api=mtls_url,
                               server_ca=tls.ca_cert)
    session.start()
    first = session.keeper.certificate()
    assert (first.not_valid_after_utc - first.not_valid_before_utc).total_seconds() <= LIFETIME_SECONDS
    assert session.status_api.set_status(client_id, "active")["status"] == "active"  # by certificate
    assert session.tick() is False  # not due yet

    def renewed() -> bool:
        session.status_api.set_status(client_id, "active")  # the heartbeat keeps going meanwhile
        return session.tick()

    wait_until(renewed, timeout=LIFETIME_SECONDS * 2, interval=0.25, message="certificate renewal")
    second = session.keeper.certificate()
    assert second.serial_number != first.serial_number
    assert datetime.datetime.now(datetime.timezone.utc) >= first.not_valid_before_utc + \
        (first.not_valid_after_utc - first.not_valid_before_utc) * 2 / 3
    assert session.status_api.set_status(client_id, "active")["status"] == "active"  # the new certificate
